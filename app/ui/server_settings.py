"""Settings for a model on a server: the denoising settings its sampler does not take are greyed out.

vLLM runs DiffusionGemma's sampler with its own settings; the chat request carries
only max tokens, seed and thinking (engine.server.request).  A field that would
change nothing is disabled, and its tooltip says why, instead of silently
being ignored.
"""

from __future__ import annotations

from app.servers import is_server_source
from app.ui.settings_dialog import SettingsDialog

NOT_SENT = "A model on a server runs its own sampler: this setting is not sent to it (local models use it)"


def limit_to_server(dialog: SettingsDialog, source: str | None) -> None:
    """Disable, with a tooltip, the fields a served model (``server:NAME``) does not take."""
    if not source or not is_server_source(source):
        return
    for field in (
        dialog.max_steps,
        dialog.entropy_bound,
        dialog.t_max,
        dialog.t_min,
        dialog.stability,
        dialog.confidence,
    ):
        field.setEnabled(False)
        field.setToolTip(NOT_SENT)
