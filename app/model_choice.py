"""Which model to offer, in words: the first-run decision, the GPU verdict, download wording.

Qt-free and torch-free at import, so the window can decide at start-up whether to
show the first-run dialog without importing torch on the GUI thread, and tests can
check every sentence without a display.  The only heavy function,
:func:`probe_gpu`, imports torch and the planner inside itself and is meant for a
worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine.hub.models import missing_files, repo_cache_folder
from engine.hub.names import format_bytes as format_size
from engine.model.demo import DEMO as DEMO_SOURCE
from engine.model.loader import DEFAULT_MODEL

if TYPE_CHECKING:
    from app.config import AppConfig
    from engine.hub.download import DownloadProgress

REAL_MODEL = DEFAULT_MODEL
FULL_MODEL_GIB = 18  # what the 4-bit model needs, rounded up (engine.model.planner, docs/quantization.md)
GIB = 2**30
NO_GPU_TEXT = (
    f"No NVIDIA GPU found: the full model needs a CUDA GPU with ~{FULL_MODEL_GIB} GiB; "
    "the demo model runs on any CPU"
)

FailureKind = Literal["access", "offline", "disk", "other"]


# -- the first-run decision -------------------------------------------------------------------------


def real_model_ready(cache_dir: Path | None = None) -> bool:
    """Whether the real model's files are all in the HF cache: files and shard headers only.

    The loader checks properly (model type, weights) when it loads; this only
    has to tell "a finished download is here" from "nothing or a partial
    download" at start-up, on the GUI thread, without importing torch.
    """
    folder = repo_cache_folder(REAL_MODEL, cache_dir)
    try:
        commit = (folder / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    snapshot = folder / "snapshots" / commit
    return snapshot.is_dir() and not missing_files(snapshot)


def needs_first_run(
    config: AppConfig, requested_model: str | None, model_ready: Callable[[], bool] = real_model_ready
) -> bool:
    """Show the first-run dialog only to someone who has not chosen a model in any way yet.

    Not when a model was named on the command line or in the settings, not when
    the dialog was shown before or folders were added, and not when the real
    model is already downloaded (the window opens it by itself).
    """
    if requested_model or config.model or config.first_run_done or config.model_folders:
        return False
    return not model_ready()


# -- the GPU verdict --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GpuReport:
    """What :func:`probe_gpu` found: the GPU (None without CUDA) and the planner's numbers for it."""

    name: str | None = None
    free_bytes: int = 0
    total_bytes: int = 0
    need_bytes: int = 0  # the 4-bit model with one canvas of context
    context_free: int = 0  # the largest context that fits in the free memory (0: does not fit)
    context_total: int = 0  # … in the whole GPU, were other programs to leave it

    @property
    def has_gpu(self) -> bool:
        return self.name is not None

    @property
    def fits(self) -> bool:
        return self.has_gpu and self.context_free > 0


def probe_gpu() -> GpuReport:
    """Detect the CUDA GPU and ask the VRAM planner about the real model's shape. Slow: worker only."""
    import torch

    if not torch.cuda.is_available():
        return GpuReport()
    from engine.model.planner import PlanOptions, Shape, largest_context, make_plan, real_shape_config

    free, total = torch.cuda.mem_get_info()
    name = torch.cuda.get_device_name()
    config = real_shape_config()
    options = PlanOptions()
    plan = make_plan(config, context=config.canvas_length, vram_bytes=int(free), options=options)
    context_total = largest_context(Shape.from_config(config), plan.weights, int(total), options)
    return GpuReport(name, int(free), int(total), plan.total, plan.max_context or 0, context_total)


def gpu_verdict(report: GpuReport) -> str:
    """One or two sentences: can this GPU run the full model, and with how much context."""
    if not report.has_gpu:
        return NO_GPU_TEXT
    free, total, need = report.free_bytes / GIB, report.total_bytes / GIB, report.need_bytes / GIB
    gpu = f"{report.name} ({free:.1f} GiB free of {total:.1f} GiB)"
    if report.context_free > 0:
        return f"{gpu}: the 4-bit model fits, with room for {report.context_free:,} tokens of context."
    if report.context_total > 0:
        return (
            f"{gpu}: the 4-bit model needs about {need:.1f} GiB, so close other programs that use "
            f"the GPU first (with the whole GPU: {report.context_total:,} tokens of context)."
        )
    return (
        f"{gpu}: too small for the full model, which needs about {need:.1f} GiB even with a short "
        "context. The demo model runs on the CPU."
    )


# -- download wording -------------------------------------------------------------------------------


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s left"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min left"


def progress_text(event: DownloadProgress) -> str:
    """``12.3 GB of 51.7 GB · 85.2 MB/s · 7 min 42 s left``."""
    parts = [f"{format_size(event.done_bytes)} of {format_size(event.total_bytes)}"]
    if event.done_bytes < event.total_bytes:
        if event.bytes_per_s > 0:
            parts.append(f"{format_size(event.bytes_per_s)}/s")
        parts.append(format_eta(event.eta_s))
    return " · ".join(parts)


def file_text(event: DownloadProgress) -> str:
    if not event.current_file:
        return f"{event.files_done} of {event.files_total} files"
    number = min(event.files_done + 1, event.files_total)
    return f"{event.current_file} (file {number} of {event.files_total})"


def failure_kind(error: BaseException) -> FailureKind:
    """Sort an engine error for the download panel: refused access, no connection, full disk, other.

    engine.hub.download turns a Hub 401/403 into ModelAccessError ``from None``;
    the original HTTP error stays on ``__context__``, which is what we read.
    """
    if type(error).__name__ == "DiskSpaceError":
        return "disk"
    cause: BaseException | None = error
    while cause is not None:
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if status in (401, 403) or type(cause).__name__ == "GatedRepoError":
            return "access"
        cause = cause.__context__
    text = str(error)
    if "Cannot reach the Hugging Face Hub" in text or "connection to the Hugging Face Hub was lost" in text:
        return "offline"
    if "access token" in text or "not been given access" in text:
        return "access"
    return "other"


def demo_size_bytes() -> int:
    """Size of the bundled demo model on disk (0 when it is missing)."""
    from engine.errors import ModelFilesError
    from engine.model.demo import demo_model_path

    try:
        path = demo_model_path()
    except ModelFilesError:
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def shorten_home(path: str | Path) -> str:
    """``~/...`` for paths in the home folder: shorter in a dialog, and the same for every user."""
    text = str(path)
    home = os.path.expanduser("~")
    return "~" + text[len(home) :] if home and text.startswith(home + os.sep) else text


# -- the models dialog's rows -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One row of the models dialog: the demo model, a cached repo or a folder the user added.

    ``installed`` is the engine's ``InstalledModel`` (None for the demo), kept
    for ``engine.hub.models.remove_model``.
    """

    name: str
    source: str  # what window.load_model takes
    kind: Literal["demo", "cache", "folder", "server"]
    size_bytes: int
    complete: bool
    problem: str = ""
    quantized_bytes: int | None = None
    installed: object = None
    where: str = ""  # a server row: "server: URL · model" (app.ui.server_entries)

    @property
    def removable(self) -> bool:
        """Cached repos are deleted, folders only leave the list; the demo model stays."""
        return self.kind != "demo"

    def describe(self, current: bool) -> str:
        """Two lines for the list: name (and "in use"), then where, size and 4-bit copy or the problem."""
        title = f"{self.name} — in use" if current else self.name
        if self.kind == "server":  # app.servers: name, then where it runs and what
            return f"{title}\n{self.where}"
        where = {"demo": "bundled with the app", "cache": "Hugging Face cache", "folder": "folder"}[self.kind]
        parts = [self.source if self.kind != "demo" else where, format_size(self.size_bytes)]
        if self.kind == "cache":
            parts[0] = f"{self.source} ({where})"
        if not self.complete:
            parts.append(self.problem or "incomplete")
        elif self.kind == "demo":
            parts.append("runs on any CPU")
        elif self.quantized_bytes is not None:
            parts.append(f"4-bit copy: {format_size(self.quantized_bytes)}")
        else:
            parts.append("no 4-bit copy yet (made on the first GPU load)")
        return title + "\n" + " · ".join(parts)


def demo_entry() -> ModelEntry:
    return ModelEntry("Demo model", DEMO_SOURCE, "demo", demo_size_bytes(), complete=True)


def entry_for(model) -> ModelEntry:
    """A row for an ``engine.hub.models.InstalledModel``."""
    quantized = model.quantized.size_bytes if model.quantized is not None else None
    return ModelEntry(
        name=model.name,
        source=model.source,
        kind=model.kind,
        size_bytes=model.size_bytes,
        complete=model.complete,
        problem=model.problem,
        quantized_bytes=quantized,
        installed=model,
    )


def scan_models(folders: tuple[str, ...]) -> list[ModelEntry]:
    """The demo model, then DiffusionGemma repos in the HF cache, then the user's folders. Worker only."""
    from engine.hub.models import list_models

    return [demo_entry(), *(entry_for(m) for m in list_models(folders))]


def remove_entry(entry: ModelEntry) -> int:
    """Delete a cached model (engine.hub.models.remove_model); returns the bytes freed. Worker only."""
    from engine.hub.models import remove_model

    return remove_model(entry.installed)
