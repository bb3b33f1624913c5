"""The settings dialog: generation, prompt, media and appearance, validated as you type.

Generation values start from the user's saved settings or, if they never
changed them, the loaded model's ``generation_config.json`` defaults.  Values
equal to the model's defaults are stored as "follow the model" so switching
models keeps each model's own defaults.  Errors are the engine's own
``GenerationSettings.validate`` messages, shown under the form, and block Save.
"""

from __future__ import annotations

from dataclasses import replace

from app.config import FONT_SIZES, AppConfig
from app.qt import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    Qt,
    QVBoxLayout,
    QWidget,
)
from engine.errors import SettingsError
from engine.inputs.conversation import IMAGE_TOKEN_BUDGETS, MAX_VIDEO_FRAMES
from engine.settings import GenerationSettings
from engine.threads import MAX_THREADS, default_threads

THEME_CHOICES = (("Follow the system", "system"), ("Light", "light"), ("Dark", "dark"))
SEND_KEY_CHOICES = (
    ("Enter (Shift+Enter for a new line)", "enter"),
    ("Ctrl+Enter (Enter for a new line)", "ctrl+enter"),
)
OVERFLOW_CHOICES = (
    ("Leave out the oldest messages", "drop_oldest"),
    ("Stop and tell me", "stop"),
)


def _number_box(box: QAbstractSpinBox, name: str) -> None:
    """A plain field (the theme hides the step buttons, which its rounded border left as slivers).

    Up/Down and the mouse wheel still step the value.
    """
    box.setAccessibleName(name)
    box.setToolTip(f"{name} (Up/Down or the mouse wheel change it)")


def _spin(minimum: int, maximum: int, step: int = 1, name: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setSingleStep(step)
    _number_box(box, name)
    return box


def _double(minimum: float, maximum: float, decimals: int, step: float, name: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    _number_box(box, name)
    return box


def _section(title: str) -> QLabel:
    label = QLabel(title)
    label.setStyleSheet("font-weight: 600; margin-top: 8px;")
    return label


class SettingsDialog(QDialog):
    def __init__(self, config: AppConfig, model_defaults: GenerationSettings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self._config = config
        self._defaults = model_defaults
        self._result: AppConfig | None = None
        self._make_generation_fields()
        self._make_prompt_fields()
        self._make_media_and_appearance_fields()
        form_widget = self._build_form()
        self._build_layout(form_widget, self._build_buttons())
        self._load(config)
        self._watch_fields()

    # --- the form: each field made, then laid out in its section -----------------------

    def _make_generation_fields(self) -> None:
        self.max_new_tokens = _spin(1, 262_144, 256, "Max new tokens")
        self.max_steps = _spin(1, 1024, 1, "Max denoising steps per block")
        self.entropy_bound = _double(0.001, 100.0, 3, 0.05, "Entropy bound")
        self.t_max = _double(0.0, 5.0, 2, 0.05, "Temperature at the first step")
        self.t_min = _double(0.0, 5.0, 2, 0.05, "Temperature at the last step")
        self.stability = _spin(0, 64, 1, "Stability threshold")
        self.confidence = _double(0.0001, 10.0, 4, 0.001, "Confidence threshold")
        self.seed_random = QRadioButton("Random")
        self.seed_random.setAccessibleName("Random seed")
        self.seed_fixed = QRadioButton("Fixed:")
        self.seed_fixed.setAccessibleName("Fixed seed")
        self.seed_value = QLineEdit()
        self.seed_value.setAccessibleName("Seed value")
        self.seed_value.setPlaceholderText("e.g. 1234")
        self.threads = _spin(0, MAX_THREADS, 1, "Engine threads")
        self.threads.setSpecialValueText(f"Automatic ({default_threads()})")  # 0: the cores less one

    def _make_prompt_fields(self) -> None:
        self.thinking = QCheckBox("Let the model think before answering")
        self.thinking.setAccessibleName("Thinking")
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setObjectName("systemPrompt")
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setPlaceholderText("Optional instructions for every reply")
        self.system_prompt.setFixedHeight(80)
        self.overflow = QComboBox()
        self.overflow.setAccessibleName("When a chat is longer than the context")
        self.overflow.setToolTip(
            "The context is what the model can read at once: its own limit, or less when the GPU's memory "
            "has room for less"
        )
        for label, value in OVERFLOW_CHOICES:
            self.overflow.addItem(label, value)

    def _make_media_and_appearance_fields(self) -> None:
        self.image_tokens = QComboBox()
        self.image_tokens.setAccessibleName("Image token budget")
        for budget in IMAGE_TOKEN_BUDGETS:
            hint = {70: " (fast)", 280: " (default)", 1120: " (OCR, small text)"}.get(budget, "")
            self.image_tokens.addItem(f"{budget} tokens{hint}", budget)
        self.video_fps = _double(0.1, 10.0, 1, 0.5, "Video frames per second")
        self.video_frames = _spin(1, MAX_VIDEO_FRAMES, 1, "Video frame cap")
        self.send_key = QComboBox()
        self.send_key.setAccessibleName("Send messages with")
        for label, value in SEND_KEY_CHOICES:
            self.send_key.addItem(label, value)
        self.theme = QComboBox()
        self.theme.setAccessibleName("Theme")
        for label, value in THEME_CHOICES:
            self.theme.addItem(label, value)
        self.font_size = _spin(min(FONT_SIZES) - 3, max(FONT_SIZES) + 12, 1, "Font size")

    def _build_form(self) -> QWidget:
        form_widget = QWidget(self)
        form = QFormLayout(form_widget)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(8)
        form.addRow(_section("Generation"))
        form.addRow("Max new tokens", self.max_new_tokens)
        form.addRow("Max denoising steps", self.max_steps)
        form.addRow("Entropy bound", self.entropy_bound)
        temperature = QHBoxLayout()
        temperature.addWidget(self.t_max)
        temperature.addWidget(QLabel("→"))
        temperature.addWidget(self.t_min)
        temperature.addStretch(1)
        form.addRow("Temperature (first → last step)", temperature)
        form.addRow("Stability threshold", self.stability)
        form.addRow("Confidence threshold", self.confidence)
        seed = QHBoxLayout()
        seed.addWidget(self.seed_random)
        seed.addWidget(self.seed_fixed)
        seed.addWidget(self.seed_value, 1)
        form.addRow("Seed", seed)
        form.addRow("Engine threads (CPU)", self.threads)
        form.addRow(_section("Prompt"))
        form.addRow("", self.thinking)
        form.addRow("System prompt", self.system_prompt)
        form.addRow("Chat longer than the context", self.overflow)
        form.addRow(_section("Images and video"))
        form.addRow("Image token budget", self.image_tokens)
        form.addRow("Video frames per second", self.video_fps)
        form.addRow("Video frame cap", self.video_frames)
        form.addRow(_section("Message box"))
        form.addRow("Send messages with", self.send_key)
        form.addRow(_section("Appearance"))
        form.addRow("Theme", self.theme)
        form.addRow("Font size (pt)", self.font_size)
        return form_widget

    def _build_buttons(self) -> QHBoxLayout:
        """The error line under the form, Reset, Save and Cancel."""
        self.error = QLabel("", self)
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Settings error")
        self.error.setVisible(False)

        self.reset_button = QPushButton("Reset to the model's defaults", self)
        self.reset_button.setAccessibleName("Reset generation settings to the model's defaults")
        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.reset_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        return bottom

    def _build_layout(self, form_widget: QWidget, bottom: QHBoxLayout) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        # The form scrolls when the screen is short (a 768 px laptop): Save stays in view.
        scroll = QScrollArea(self)
        scroll.setObjectName("settingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(form_widget)
        self._scroll = scroll
        scroll.setMinimumWidth(form_widget.sizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        layout.addWidget(scroll, 1)
        layout.addWidget(self.error)
        layout.addLayout(bottom)

    def _watch_fields(self) -> None:
        """Every edit is checked at once: Save is enabled only while every field holds a valid value."""
        for spin in (
            self.max_new_tokens,
            self.max_steps,
            self.entropy_bound,
            self.t_max,
            self.t_min,
            self.stability,
            self.confidence,
            self.video_fps,
            self.video_frames,
            self.font_size,
        ):
            spin.valueChanged.connect(self._validate)
        self.seed_value.textChanged.connect(self._validate)
        self.seed_random.toggled.connect(self._validate)
        self._validate()

    def showEvent(self, event) -> None:
        """Open tall enough to show the whole form, unless the screen is shorter: then it scrolls."""
        super().showEvent(event)
        form = self._scroll.widget().sizeHint()
        screen = self.screen().availableGeometry().height() if self.screen() is not None else 800
        chrome = self.sizeHint().height() - self._scroll.sizeHint().height()
        self.resize(self.width(), max(self.height(), min(form.height() + chrome, int(screen * 0.9))))

    # --- values ----------------------------------------------------------------

    def _load(self, config: AppConfig) -> None:
        self._set_generation(config.generation_settings(self._defaults))
        self.thinking.setChecked(config.thinking)
        self.system_prompt.setPlainText(config.system_prompt)
        self.overflow.setCurrentIndex(max(0, self.overflow.findData(config.context_overflow)))
        self.image_tokens.setCurrentIndex(max(0, self.image_tokens.findData(config.image_tokens)))
        self.video_fps.setValue(config.video_fps)
        self.video_frames.setValue(config.video_max_frames)
        self.send_key.setCurrentIndex(max(0, self.send_key.findData(config.send_key)))
        self.theme.setCurrentIndex(max(0, self.theme.findData(config.theme)))
        self.font_size.setValue(config.font_size)
        self.threads.setValue(config.engine_threads)

    def _set_generation(self, g: GenerationSettings) -> None:
        self.max_new_tokens.setValue(g.max_new_tokens)
        self.max_steps.setValue(g.max_denoising_steps)
        self.entropy_bound.setValue(g.entropy_bound)
        self.t_max.setValue(g.t_max)
        self.t_min.setValue(g.t_min)
        self.stability.setValue(g.stability_threshold)
        self.confidence.setValue(g.confidence_threshold)
        self.seed_random.setChecked(g.seed is None)
        self.seed_fixed.setChecked(g.seed is not None)
        self.seed_value.setText("" if g.seed is None else str(g.seed))

    def _seed(self) -> int | None:
        if self.seed_random.isChecked():
            return None
        text = self.seed_value.text().strip()
        try:
            return int(text)
        except ValueError:
            raise SettingsError(
                f"Seed {text!r} is not a whole number", fix="Type a number such as 1234, or choose Random"
            ) from None

    def generation(self) -> GenerationSettings:
        """The generation settings as entered; raises SettingsError when one is out of range."""
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens.value(),
            max_denoising_steps=self.max_steps.value(),
            entropy_bound=round(self.entropy_bound.value(), 6),
            t_max=round(self.t_max.value(), 6),
            t_min=round(self.t_min.value(), 6),
            stability_threshold=self.stability.value(),
            confidence_threshold=round(self.confidence.value(), 6),
            seed=self._seed(),
        ).validate()

    def config(self) -> AppConfig:
        """The edited config; raises SettingsError when a value is invalid."""
        generation = self.generation()
        return replace(
            self._config,
            generation=None if generation == self._defaults else generation,
            thinking=self.thinking.isChecked(),
            system_prompt=self.system_prompt.toPlainText().strip(),
            context_overflow=self.overflow.currentData(),
            image_tokens=int(self.image_tokens.currentData()),
            video_fps=round(self.video_fps.value(), 3),
            video_max_frames=self.video_frames.value(),
            send_key=self.send_key.currentData(),
            theme=self.theme.currentData(),
            font_size=self.font_size.value(),
            engine_threads=self.threads.value(),
        ).validate()

    def result_config(self) -> AppConfig | None:
        return self._result

    # --- slots -----------------------------------------------------------------

    def _validate(self, *_args) -> bool:
        self.seed_value.setEnabled(self.seed_fixed.isChecked())
        try:
            self.config()
        except SettingsError as error:
            self.error.setText(str(error))
            self.error.setVisible(True)
            self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
            return False
        self.error.setVisible(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        return True

    def _on_reset_button_clicked(self) -> None:
        self._set_generation(self._defaults)
        self._validate()

    def _on_buttons_accepted(self) -> None:
        if self._validate():
            self._result = self.config()
            self.accept()
