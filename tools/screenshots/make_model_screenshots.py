"""Render docs/screenshots/first_run.png and models.png offscreen, from a scripted state.

    QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 .venv/bin/python tools/screenshots/make_model_screenshots.py

The GPU report, the download plan and the model list are scripted (no GPU, no
network needed), so the pictures show what a machine with an RTX 4090 sees.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.config import AppConfig  # noqa: E402
from app.download_task import DownloadCheck  # noqa: E402
from app.model_choice import REAL_MODEL, GpuReport, ModelEntry  # noqa: E402
from app.qt import QApplication  # noqa: E402
from app.theme import apply_theme  # noqa: E402
from app.ui.first_run import FirstRunDialog  # noqa: E402
from app.ui.models_dialog import ModelsDialog  # noqa: E402
from engine.hub.download import DownloadPlan, PlannedFile  # noqa: E402

GIB = 2**30
OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    app = QApplication([])
    apply_theme(app, sys.argv[1] if len(sys.argv) > 1 else "light", 11)
    size = 51_700_000_000
    plan = DownloadPlan(REAL_MODEL, "0" * 40, (PlannedFile("model.safetensors", size),), size, 0)
    check = DownloadCheck(plan, 183_200_000_000, os.path.expanduser("~/.cache/huggingface/hub"))

    first = FirstRunDialog(probe=GpuReport)
    first._started = True  # scripted: no GPU probe, no Hub check
    first.show()
    gpu = GpuReport("NVIDIA GeForce RTX 4090", int(22.6 * GIB), 24 * GIB, int(15.6 * GIB), 40_960, 49_152)
    first.show_gpu_report(gpu)
    first.download_panel.on_task_checked(check)
    first.fit()
    app.processEvents()
    first.grab().save(str(OUT / "first_run.png"))
    first.shutdown()
    first.close()

    models = ModelsDialog(AppConfig(), REAL_MODEL)
    models.tasks.shutdown()  # scripted list instead of a scan
    models._fill(
        [
            ModelEntry("Demo model", "demo", "demo", 10_500_000, True),
            ModelEntry(
                "diffusiongemma-26B-A4B-it", REAL_MODEL, "cache", size, True, quantized_bytes=14_500_000_000
            ),
            ModelEntry("my-finetune", "/home/me/models/my-finetune", "folder", size, True),
            ModelEntry(
                "half",
                "/home/me/models/half",
                "folder",
                3_200_000_000,
                False,
                problem="The model folder is not a complete checkpoint "
                "(missing: model-00002-of-00012.safetensors)",
            ),
        ]
    )
    models.show()
    models.resize(760, 480)
    models.download_card.setVisible(False)
    models.download_panel.state = "ready"  # so show_download does not ask the Hub
    models.show_download()
    models.download_panel.on_task_checked(check)
    app.processEvents()
    models.grab().save(str(OUT / "models.png"))
    models.shutdown()
    models.close()


if __name__ == "__main__":
    main()
