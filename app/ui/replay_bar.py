"""The scrubber under a finished reply: play, pause, drag through every denoising step, change speed.

It only counts frames and keeps time; the reply widget draws the frame it
reports (``frame_changed``) with the same code that drew the live reply.
At 1× a frame lasts as long as the reply's average denoising forward took
(clamped to stay watchable, see :mod:`app.replay`).
"""

from __future__ import annotations

from app.qt import QComboBox, QFrame, QHBoxLayout, QLabel, QSlider, Qt, QTimer, Signal
from app.replay import SPEEDS
from app.ui.buttons import tool_button


def _speed_label(speed: float) -> str:
    return {0.25: "¼×", 0.5: "½×"}.get(speed, f"{speed:g}×")


class ReplayBar(QFrame):
    frame_changed = Signal(int)
    closed = Signal()
    save_requested = Signal()  # Save as GIF
    fork_requested = Signal(int)  # Go on from here: a new version of the reply from this frame's step

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("replayBar")
        self.setAccessibleName("Replay of the refinement")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.setSpacing(8)
        self.play_button = tool_button(
            self,
            "",
            "Play / pause (Space)",
            name="Play or pause the replay",
            object_name="replayPlay",
            clicked=self.toggle,
        )
        layout.addWidget(self.play_button)
        self._build_scrubber(layout)
        self.save_button = tool_button(
            self,
            "Save GIF…",
            "Save this replay as an animated GIF, to share",
            name="Save the replay as an animated GIF",
            clicked=self.save_requested,
        )
        self.fork_button = tool_button(
            self,
            "Go on from here",
            "A new version of this reply that starts from this step (its accepted tokens kept, "
            "the rest as noise) with a new seed; the canvases before it stay as they are",
            name="Go on from this step in a new version",
            clicked=lambda: self.fork_requested.emit(self.frame),
        )
        self.close_button = tool_button(
            self,
            "✕",
            "Close the replay and show the final reply",
            name="Close the replay",
            clicked=self.closed,
        )
        for button in (self.save_button, self.fork_button, self.close_button):
            layout.addWidget(button)
        self.message = QLabel("", self)
        self.message.setObjectName("replayMessage")
        self.message.setWordWrap(True)
        layout.addWidget(self.message, 1)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._step_seconds = 0.1
        self._labels: list[str] = []
        self._set_playing_icon(False)
        self.show_message("")

    def _build_scrubber(self, layout: QHBoxLayout) -> None:
        """The slider over every step, the "block 2 · step 5/16" label and the speed menu."""
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setAccessibleName("Replay position")
        self.slider.setMinimum(0)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.slider.sliderPressed.connect(self.pause)
        layout.addWidget(self.slider, 1)
        self.position = QLabel("", self)
        self.position.setObjectName("replayPosition")
        self.position.setAccessibleName("Replay step")
        # Room for the longest position, so the slider gives way and not the label.
        self.position.setMinimumWidth(self.position.fontMetrics().horizontalAdvance("block 88 · step 88/88"))
        layout.addWidget(self.position)
        self.speed = QComboBox(self)
        self.speed.setAccessibleName("Replay speed")
        self.speed.setToolTip("1× is the speed the reply was generated at (slowed down if too fast to see)")
        for speed in SPEEDS:
            self.speed.addItem(_speed_label(speed), speed)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.currentIndexChanged.connect(self._on_speed_current_index_changed)
        layout.addWidget(self.speed)

    # --- state -----------------------------------------------------------------

    def show_message(self, text: str) -> None:
        """Loading or an error: the message instead of the controls (Close stays)."""
        self._timer.stop()
        self.message.setText(text)
        self.message.setVisible(bool(text))
        controls = (self.play_button, self.slider, self.position, self.speed, self.save_button)
        controls += (self.fork_button,)
        for widget in controls:
            widget.setVisible(not text)

    def set_frames(self, labels: list[str], step_seconds: float) -> None:
        """``labels[i]`` names frame i ("block 1 · step 3/16"); starts at the first frame, paused."""
        self.show_message("")
        self._labels = labels
        self._step_seconds = step_seconds
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(0, len(labels) - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._show_position(0)
        self.frame_changed.emit(0)

    @property
    def frame(self) -> int:
        return self.slider.value()

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def seek(self, frame: int) -> None:
        self.slider.setValue(frame)

    def play(self) -> None:
        if not self._labels:
            return
        if self.frame >= self.slider.maximum():
            self.seek(0)
        self._timer.start(self._interval_ms())
        self._set_playing_icon(True)

    def pause(self) -> None:
        self._timer.stop()
        self._set_playing_icon(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def speed_factor(self) -> float:
        return float(self.speed.currentData())

    def stop(self) -> None:
        self._timer.stop()

    # --- internals -----------------------------------------------------------------

    def _interval_ms(self) -> int:
        return max(1, round(self._step_seconds / self.speed_factor() * 1000))

    def _set_playing_icon(self, playing: bool) -> None:
        self.play_button.setText("❚❚" if playing else "▶")

    def _show_position(self, frame: int) -> None:
        if self._labels:
            self.position.setText(self._labels[frame])

    def _on_slider_value_changed(self, frame: int) -> None:
        self._show_position(frame)
        self.frame_changed.emit(frame)

    def _on_timer_timeout(self) -> None:
        if self.frame >= self.slider.maximum():
            self.pause()
            return
        self.seek(self.frame + 1)

    def _on_speed_current_index_changed(self, _index: int) -> None:
        if self.playing:
            self._timer.start(self._interval_ms())

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space:
            self.toggle()
            event.accept()
            return
        super().keyPressEvent(event)
