"""Help ▸ Check this computer: the engine's doctor, in a dialog, with a report to copy.

The same checks as ``python -m engine doctor`` (libraries, GPU and free memory,
model files, the 4-bit cache, the fit), for users who never open a terminal.
They import torch and read the model folder, so they run on a pool thread;
the dialog says "Checking…" meanwhile and never blocks the window.
"""

from __future__ import annotations

import html

from app.qt import QDialog, QDialogButtonBox, QGuiApplication, QLabel, QVBoxLayout
from app.tasks import Tasks
from app.ui.text_view import RichTextView
from engine.errors import EngineError


def run_doctor(model: str) -> tuple[list, bool]:
    """On the pool thread: every check, and whether the model can run on this GPU."""
    from engine.hub.doctor import ready, run_checks

    checks = run_checks(model)
    return checks, ready(checks)


def report_text(model: str, checks: list, ready: bool) -> str:
    """Plain text for a bug report: the doctor's own report under a line naming the model."""
    from engine.hub.doctor import report

    return f"DiffusionGemma Chat — checks for {model}\n{report(checks, ready)}"


class DoctorDialog(QDialog):
    def __init__(self, model: str, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.report = ""
        self.setWindowTitle("Check this computer")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        # A text view, not a label: a label's height for a wrapped table comes out short.
        self.body = RichTextView(self, accessible_name="Checks")
        self.body.setHtml(f"Checking this computer for {html.escape(model)}…")
        layout.addWidget(self.body)
        self.verdict = QLabel("", self)
        self.verdict.setWordWrap(True)
        self.verdict.setVisible(False)
        layout.addWidget(self.verdict)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = buttons.addButton("Copy report", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._tasks = Tasks(self, threads=1)
        self._tasks.run(run_doctor, model, on_done=self._show_checks, on_failed=self._show_failure)

    @property
    def busy(self) -> bool:
        return self._tasks.busy

    def _show_checks(self, result: tuple[list, bool]) -> None:
        checks, ready = result
        self.report = report_text(self.model, checks, ready)
        rows = []
        for check in checks:
            mark = "✓" if check.ok else ("✗" if check.required else "•")
            fix = f"<br><i>{html.escape(check.fix)}</i>" if check.fix and not check.ok else ""
            rows.append(
                f"<tr><td style='padding-right:8px'>{mark}</td>"
                f"<td style='padding-right:12px'><b>{html.escape(check.name)}</b></td>"
                f"<td>{html.escape(check.detail)}{fix}</td></tr>"
            )
        verdict = (
            "The model can run on this GPU."
            if ready
            else "Not ready for the model on a GPU. The demo model runs on any computer "
            "(Model ▸ Use the demo model)."
        )
        self.body.setHtml(f"<table cellspacing='4'>{''.join(rows)}</table>")
        self.verdict.setText(verdict)
        self.verdict.setVisible(True)
        self.copy_button.setEnabled(True)
        self.adjustSize()  # the report is taller than "Checking…"

    def _show_failure(self, error: EngineError) -> None:
        self.report = f"The checks could not run: {error}"
        self.body.setHtml(
            html.escape(self.report) + "<br>The log file has the details (Help ▸ Show the log folder)."
        )
        self.adjustSize()

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.report)

    def done(self, result: int) -> None:
        self._tasks.shutdown()  # nothing may report to a closed dialog
        super().done(result)
