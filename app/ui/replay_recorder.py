"""Save a reply's replay as an animated GIF, to share what watching the canvas refine looks like.

Each frame is drawn by a reply widget of its own, never shown on screen, with
the same code that drew the live reply (markdown or the token grid), so the
GIF shows exactly what the replay shows and the reply on screen is left alone.
Drawing a frame must happen on the GUI thread, so the recorder draws one per
turn of the event loop (the window stays responsive and the status bar shows
the progress); turning frames into palette images and writing the file run on
a pool thread.  A long reply is sampled down to :data:`MAX_FRAMES` frames, and
each frame shows at most :data:`MAX_HEIGHT_PX` of the reply, its newest part
(the canvas being refined is at the bottom), so a GIF stays a few megabytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageColor

from app import notices
from app.markdown import MarkdownRenderer
from app.palette import Colors
from app.qt import (
    QColor,
    QFileDialog,
    QImage,
    QObject,
    QPalette,
    QRect,
    Qt,
    QTimer,
    QWidget,
    Signal,
)
from app.replay import Replay
from app.tasks import Tasks, UnexpectedError
from app.ui.messages import AssistantMessage
from engine.errors import EngineError

MAX_FRAMES = 160
WIDTH_PX = 720
MAX_HEIGHT_PX = 900
LAST_FRAME_HOLD_MS = 2500
MARGIN_PX = 20  # around each frame, in the transcript's background colour
MIN_FRAME_MS = 40  # GIF viewers treat shorter delays as "as fast as possible" (often 100 ms)


def sampled_frames(count: int, most: int = MAX_FRAMES) -> list[int]:
    """Which of ``count`` frames to keep: all of them, or evenly spaced ones ending with the last."""
    if count <= most:
        return list(range(count))
    stride = count / most
    return sorted({min(count - 1, math.floor(i * stride)) for i in range(most)} | {count - 1})


def qimage_to_rgb(image: QImage) -> Image.Image:
    """A Pillow RGB copy of a QImage (any thread: QImage is not tied to the GUI thread)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(rgb.constBits())[: rgb.sizeInBytes()]
    size = (rgb.width(), rgb.height())
    return Image.frombuffer("RGB", size, data, "raw", "RGB", rgb.bytesPerLine(), 1).copy()


def write_gif(frames: list[QImage], durations_ms: list[int], background: str, path: Path) -> Path:
    """Pad the frames to one size, give them one palette and write the GIF (pool thread)."""
    images = [qimage_to_rgb(frame) for frame in frames]
    width = max(image.width for image in images) + 2 * MARGIN_PX
    height = max(image.height for image in images) + 2 * MARGIN_PX
    canvas_colour = ImageColor.getrgb(background)
    padded = []
    for image in images:
        canvas = Image.new("RGB", (width, height), canvas_colour)
        canvas.paste(image, (MARGIN_PX, MARGIN_PX))
        padded.append(canvas)
    # One palette for every frame, from the first (noise) and the last (the finished reply) side by
    # side, so colours do not flicker from frame to frame.
    sample = Image.new("RGB", (width * 2, height), canvas_colour)
    sample.paste(padded[0], (0, 0))
    sample.paste(padded[-1], (width, 0))
    palette = sample.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    quantized = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in padded]
    path.parent.mkdir(parents=True, exist_ok=True)
    quantized[0].save(
        path, save_all=True, append_images=quantized[1:], duration=durations_ms, loop=0, disposal=1
    )
    return path


class ReplayRecorder(QObject):
    progressed = Signal(int, int)  # frames drawn, frames in all
    saved = Signal(object)  # the Path written
    failed = Signal(str)  # what went wrong, for the user

    def __init__(
        self,
        replay: Replay,
        renderer: Callable[[], MarkdownRenderer],
        colors: Colors,
        path: Path,
        *,
        token_view: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._replay = replay
        self._path = path
        self._background = colors.surface
        self._indices = sampled_frames(len(replay))
        stride = len(replay) / len(self._indices) if self._indices else 1
        frame_ms = max(MIN_FRAME_MS, round(replay.step_seconds * 1000 * stride))
        self._durations = [frame_ms] * len(self._indices)
        if self._durations:
            self._durations[-1] = LAST_FRAME_HOLD_MS
        self._frames: list[QImage] = []
        # The drawing widget: the reply's own class, laid out at a fixed width, never on screen.
        self._stage = AssistantMessage(renderer, colors)
        self._stage.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        self._stage.setObjectName("replayStage")
        palette = self._stage.palette()  # the transcript's background, not the window's
        palette.setColor(QPalette.ColorRole.Window, QColor(colors.surface))
        self._stage.setPalette(palette)
        self._stage.setAutoFillBackground(True)
        self._stage.set_token_view(token_view)
        self._stage.resize(WIDTH_PX, 400)
        self._stage.show()
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._tasks = Tasks(self, threads=1)

    @property
    def path(self) -> Path:
        return self._path

    def start(self) -> None:
        if not self._indices:
            self.failed.emit("This reply has no steps to record.")
            return
        self._timer.start()

    def cancel(self) -> None:
        self._timer.stop()
        self._tasks.shutdown()
        self._close_stage()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        return self._tasks.wait(timeout_ms)

    def _on_timer_timeout(self) -> None:
        """Draw one frame and keep its picture; the last one hands the pictures to the pool."""
        index = self._indices[len(self._frames)]
        self._frames.append(self._draw(index))
        self.progressed.emit(len(self._frames), len(self._indices))
        if len(self._frames) == len(self._indices):
            self._timer.stop()
            self._close_stage()
            self._tasks.run(
                write_gif,
                self._frames,
                self._durations,
                self._background,
                self._path,
                on_done=self._on_written,
                on_failed=self._on_write_failed,
            )

    def _draw(self, index: int) -> QImage:
        stage = self._stage
        stage.render_frame(self._replay.state_at(index))
        stage.indicator.setText(f"replay · {self._replay.position(index)}")
        stage.layout().activate()
        height = stage.heightForWidth(WIDTH_PX) if stage.hasHeightForWidth() else -1
        height = max(height, stage.sizeHint().height())
        stage.resize(WIDTH_PX, height)
        stage.layout().activate()
        content = stage.token_panel if stage.token_panel.isVisible() else stage.answer
        bottom = content.geometry().bottom() + 8
        top = max(0, bottom - MAX_HEIGHT_PX)
        picture = stage.grab(QRect(0, top, WIDTH_PX, bottom - top)).toImage()
        if picture.devicePixelRatio() != 1:
            picture = picture.scaledToWidth(WIDTH_PX, Qt.TransformationMode.SmoothTransformation)
        return picture

    def _close_stage(self) -> None:
        if self._stage is not None:
            self._stage.close()
            self._stage.deleteLater()
            self._stage = None

    def _on_written(self, path: Path) -> None:
        self._frames.clear()
        self.saved.emit(path)

    def _on_write_failed(self, error: EngineError) -> None:
        self._frames.clear()
        cause = error.original if isinstance(error, UnexpectedError) else error
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        self.failed.emit(f"The replay could not be saved to {self._path}: {reason}. Choose another folder.")


class ReplayExport(QObject):
    """The replay bar's Save GIF…: asks where, records off-screen, says how far it is (app.notices)."""

    saved = Signal(object)  # the Path written

    def __init__(
        self,
        renderer: Callable[[], MarkdownRenderer],
        colors: Callable[[], Colors],
        dialog_parent: QWidget,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._renderer = renderer
        self._colors = colors
        self._dialog_parent = dialog_parent
        self.recorder: ReplayRecorder | None = None  # the one recording now

    def save(self, widget: AssistantMessage, path: Path | None = None) -> ReplayRecorder | None:
        """Record ``widget``'s replay (in the view it shows: markdown or tokens) into a GIF file."""
        if widget.replay is None:
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self._dialog_parent,
                "Save the replay as a GIF",
                str(Path.home() / "DiffusionGemma replay.gif"),
                "Animated GIF (*.gif)",
            )
            if not chosen:
                return None
            path = Path(chosen)
        if path.suffix.lower() != ".gif":
            path = path.with_name(path.name + ".gif")
        if self.recorder is not None:
            self.recorder.cancel()  # one at a time: the newest request wins
        recorder = ReplayRecorder(
            widget.replay,
            self._renderer,
            self._colors(),
            path,
            token_view=widget.token_panel.isVisible(),
            parent=self,
        )
        recorder.progressed.connect(self._on_recorder_progressed)
        recorder.saved.connect(self._on_recorder_saved)
        recorder.failed.connect(self._on_recorder_failed)
        self.recorder = recorder
        recorder.start()
        return recorder

    def shutdown(self) -> None:
        if self.recorder is not None:
            self.recorder.cancel()

    def _on_recorder_progressed(self, done: int, total: int) -> None:
        notices.info(f"Saving the replay as a GIF… frame {done} of {total}", timeout_ms=0)

    def _on_recorder_saved(self, path: Path) -> None:
        notices.info(f"Replay saved to {path}", timeout_ms=8000)
        self.recorder = None
        self.saved.emit(path)

    def _on_recorder_failed(self, message: str) -> None:
        notices.error(message)
        self.recorder = None
