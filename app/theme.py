"""Light and dark themes: a QPalette, one style sheet, and the colours for rendered markdown.

Follows the system scheme (``QStyleHints.colorScheme``) unless the user picked
one; Fusion is used everywhere so the window looks the same on every desktop
and the palette is honoured.  Widgets are styled by object name, so the sheet
is the single place that knows what a bubble or a code box looks like.
"""

from __future__ import annotations

from pathlib import Path

from app import paths
from app.palette import DARK, LIGHT, Colors
from app.qt import (
    QApplication,
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QPainter,
    QPalette,
    QPen,
    QPointF,
    Qt,
    QWidget,
)

UI_FAMILIES = ["Inter", "Segoe UI", "SF Pro Text", "Cantarell", "Noto Sans", "DejaVu Sans"]


def system_scheme() -> str:
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


def resolve(theme: str) -> Colors:
    """Colours for a theme setting: "light", "dark" or "system"."""
    scheme = system_scheme() if theme == "system" else theme
    return DARK if scheme == "dark" else LIGHT


def palette_for(c: Colors) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    group = QPalette.ColorGroup
    p.setColor(role.Window, QColor(c.window))
    p.setColor(role.WindowText, QColor(c.text))
    p.setColor(role.Base, QColor(c.surface))
    p.setColor(role.AlternateBase, QColor(c.code_bg))
    p.setColor(role.Text, QColor(c.text))
    p.setColor(role.Button, QColor(c.surface))
    p.setColor(role.ButtonText, QColor(c.text))
    p.setColor(role.ToolTipBase, QColor(c.surface))
    p.setColor(role.ToolTipText, QColor(c.text))
    p.setColor(role.PlaceholderText, QColor(c.faint))
    p.setColor(role.Highlight, QColor(c.selection))
    p.setColor(role.HighlightedText, QColor(c.text))
    p.setColor(role.Link, QColor(c.link))
    p.setColor(role.Mid, QColor(c.border))
    p.setColor(role.Midlight, QColor(c.border))
    for disabled_role in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, disabled_role, QColor(c.faint))
    return p


def chevron_image(color: str) -> Path:
    """A small down-chevron in ``color`` as a PNG file, for combo boxes (drawn once per colour).

    A style sheet that restyles a combo box's drop-down loses Fusion's arrow, and
    style sheets take images only by file or resource path: so the arrow is drawn
    here, at twice the size it is shown for HiDPI screens, into the cache folder.
    """
    path = paths.cache_dir() / "style" / f"chevron-{color.lstrip('#').lower()}.png"
    if path.exists():
        return path
    image = QImage(20, 12, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(color), 2.6)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.drawPolyline([QPointF(3, 2.5), QPointF(10, 9.5), QPointF(17, 2.5)])
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(path))
    return path


def style_sheet(c: Colors, font_pt: int, chevron: Path | None = None) -> str:
    small = max(8, font_pt - 2)
    raised = c.surface if c.name == "light" else c.user_bubble  # a floating button, lighter in the dark
    arrow = (
        f"QComboBox::down-arrow {{ image: url({chevron.as_posix()}); width: 10px; height: 6px; }}"
        if chevron is not None
        else ""
    )
    return "\n" + "".join(
        (
            _window_rules(c, font_pt, small),
            _composer_rules(c, small),
            _button_rules(c, font_pt, small, raised),
            _form_rules(c, small, arrow),
        )
    )


def _window_rules(c: Colors, font_pt: int, small: int) -> str:
    """The window, the chat list, the trash and the messages."""
    return f"""QMainWindow, QDialog {{ background: {c.window}; }}
QToolTip {{ background: {c.surface}; color: {c.text}; border: 1px solid {c.border}; padding: 4px 6px; }}
#sidebar {{ background: {c.sidebar}; border: none; border-right: 1px solid {c.border}; }}
#sidebarTitle {{ color: {c.text}; font-weight: 600; font-size: {font_pt + 1}pt; }}
#chatList {{ background: transparent; border: none; outline: none; }}
#chatList::item {{ padding: 8px 10px; border-radius: 8px; margin: 1px 0; color: {c.text}; }}
#chatList::item:hover {{ background: {c.border}; }}
#chatList::item:selected {{ background: {c.user_bubble}; color: {c.text}; font-weight: 600; }}
#trashList {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 8px; outline: none; }}
#trashList::item {{ padding: 6px 10px; border-radius: 6px; margin: 2px 4px; color: {c.text}; }}
#trashList::item:selected {{ background: {c.user_bubble}; color: {c.text}; }}
#transcript, #transcriptPage {{ background: {c.surface}; border: none; }}
#userBubble {{ background: {c.user_bubble}; border-radius: 16px; }}
#assistantName {{ color: {c.text}; font-weight: 600; }}
#stepIndicator {{ color: {c.muted}; font-size: {small}pt; }}
#replyStats, #muted {{ color: {c.faint}; font-size: {small}pt; }}
#contextNote {{ color: {c.muted}; font-size: {small}pt; background: {c.code_bg};
    border: 1px solid {c.border}; border-radius: 8px; padding: 4px 8px; }}
#thoughtBox {{ border-left: 2px solid {c.border}; }}
#notice {{ background: {c.error_bg}; border: 1px solid {c.error_border}; border-radius: 10px; }}
#notice QLabel {{ color: {c.error_text}; }}
#infoNotice {{ background: {c.code_bg}; border: 1px solid {c.border}; border-radius: 10px; }}
#emptyTitle {{ color: {c.text}; font-size: {font_pt + 12}pt; font-weight: 600; }}
#emptyHint {{ color: {c.muted}; font-size: {font_pt + 1}pt; }}
"""


def _composer_rules(c: Colors, small: int) -> str:
    """The find bar, the composer and its attachment chips."""
    return f"""#findBar {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 10px; }}
#findBar QLineEdit {{ border: none; background: transparent; color: {c.text}; padding: 3px; }}
#composer {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 16px; }}
#composerEdit {{ background: transparent; border: none; color: {c.text};
    selection-background-color: {c.selection}; }}
#composerArea {{ background: {c.surface}; }}
#attachmentChip {{ background: {c.code_bg}; border: 1px solid {c.border}; border-radius: 10px; }}
#chipLabel {{ color: {c.muted}; font-size: {small}pt; }}
#chipRemove {{ border: none; border-radius: 9px; background: {c.border}; color: {c.text};
    min-width: 18px; max-width: 18px; min-height: 18px; max-height: 18px; font-weight: 700; }}
#chipRemove:hover {{ background: {c.error_border}; }}
#messageThumb {{ border: 1px solid {c.border}; border-radius: 8px; }}
"""


def _button_rules(c: Colors, font_pt: int, small: int, raised: str) -> str:
    """Buttons: push, tool (the jump-to-latest one floats), a message's own actions."""
    return f"""QPushButton {{ padding: 6px 14px; border-radius: 8px; border: 1px solid {c.border};
    background: {c.surface}; color: {c.text}; }}
QPushButton:hover {{ border-color: {c.faint}; }}
QPushButton:focus {{ border-color: {c.accent}; }}
QPushButton#primary, QPushButton#sendButton {{ background: {c.accent}; color: {c.accent_text};
    border: 1px solid {c.accent}; font-weight: 600; }}
QPushButton#primary:hover, QPushButton#sendButton:hover {{ background: {c.accent_hover}; }}
QPushButton#sendButton:disabled {{ background: {c.border}; border-color: {c.border}; color: {c.faint}; }}
QPushButton#sendButton[generating="true"] {{ background: {c.text}; border-color: {c.text};
    color: {c.surface}; }}
QToolButton {{ border: none; border-radius: 6px; padding: 4px 6px; color: {c.muted}; }}
QToolButton:hover {{ background: {c.border}; color: {c.text}; }}
QToolButton:checked {{ background: {c.user_bubble}; color: {c.accent}; }}
QToolButton:focus {{ outline: none; border: 1px solid {c.accent}; }}
QToolButton#jumpToLatest {{ background: {raised}; color: {c.muted}; border: 1px solid {c.border};
    border-radius: 18px; padding: 0; font-size: {font_pt + 3}pt; font-weight: 600; }}
QToolButton#jumpToLatest:hover {{ background: {c.accent}; color: {c.accent_text}; border-color: {c.accent}; }}
#messageEditor {{ background: {c.surface}; border: 1px solid {c.accent}; border-radius: 16px; }}
#messageEditBox {{ background: transparent; border: none; color: {c.text}; }}
QToolButton#messageAction, QToolButton#versionArrow {{
    color: {c.faint}; font-size: {small}pt; padding: 2px 6px; }}
QToolButton#messageAction:hover, QToolButton#versionArrow:hover {{ color: {c.text}; }}
QToolButton#versionArrow:disabled {{ color: {c.border}; }}
#versionLabel {{ color: {c.muted}; font-size: {small}pt; padding: 0 2px; }}
"""


def _form_rules(c: Colors, small: int, arrow: str) -> str:
    """The replay bar, the status bar, scroll bars and form fields."""
    return f"""#replayBar {{ background: {c.code_bg}; border: 1px solid {c.border}; border-radius: 10px; }}
#replayPosition, #replayMessage {{ color: {c.muted}; font-size: {small}pt; }}
#thoughtToggle {{ color: {c.muted}; font-weight: 600; padding: 4px 6px; }}
QStatusBar {{ background: {c.window}; color: {c.muted}; border-top: 1px solid {c.border}; }}
QStatusBar QLabel {{ color: {c.muted}; padding: 0 6px; }}
QProgressBar {{ border: 1px solid {c.border}; border-radius: 5px; background: {c.surface};
    max-height: 10px; min-width: 140px; text-align: center; font-size: 1pt; }}
QProgressBar::chunk {{ background: {c.accent}; border-radius: 4px; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar::handle:vertical {{ background: {c.border}; border-radius: 4px; min-height: 30px; }}
QScrollBar::handle:vertical:hover {{ background: {c.faint}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ height: 0; width: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox, QPlainTextEdit#systemPrompt {{
    border: 1px solid {c.border}; border-radius: 6px; padding: 4px 6px; background: {c.surface};
    color: {c.text}; }}
QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus, QPlainTextEdit#systemPrompt:focus {{
    border-color: {c.accent}; }}
QSpinBox::up-button, QSpinBox::down-button, QDoubleSpinBox::up-button, QDoubleSpinBox::down-button {{
    width: 0; border: none; }}
QComboBox::drop-down {{ border: none; width: 22px; }}
{arrow}
#fieldError {{ color: {c.error_text}; }}
#legendLabel {{ color: {c.muted}; font-size: {small}pt; }}
"""


def apply_theme(app: QApplication, theme: str, font_pt: int) -> Colors:
    """Style the whole application; returns the colours the markdown renderer must use."""
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):
        scheme = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(
            theme, Qt.ColorScheme.Unknown
        )
        if theme == "system":
            hints.unsetColorScheme()
        else:
            hints.setColorScheme(scheme)
    colors = resolve(theme)
    font = QFont()
    font.setFamilies(UI_FAMILIES)
    font.setPointSize(font_pt)
    font.setStyleHint(QFont.StyleHint.SansSerif)
    app.setFont(font)
    app.setPalette(palette_for(colors))
    try:
        chevron: Path | None = chevron_image(colors.muted)
    except OSError:
        chevron = None  # an unwritable cache: combo boxes lose their arrow, nothing else
    app.setStyleSheet(style_sheet(colors, font_pt, chevron))
    return colors


def restyle(widget: QWidget) -> None:
    """Apply the style sheet again after a selector it matches on (name, property) changed: Qt does not."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def set_style_name(widget: QWidget, name: str) -> None:
    """Give ``widget`` the style sheet rules of ``name`` (e.g. "fieldError", "muted", "primary")."""
    if widget.objectName() != name:
        widget.setObjectName(name)
        restyle(widget)
