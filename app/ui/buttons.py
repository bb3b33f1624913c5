"""The one way the window makes a small text button: a QToolButton with its tooltip and accessible name.

Every tool button needs the same four things — text, tooltip, an accessible
name a screen reader can say, sometimes a click handler — and the composer,
the message actions, the find bar and the replay bar each set them by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from app.qt import QToolButton, QWidget


def tool_button(
    parent: QWidget,
    text: str,
    tip: str,
    *,
    name: str | None = None,
    object_name: str = "",
    checkable: bool = False,
    clicked: Callable[..., object] | None = None,
) -> QToolButton:
    """A tool button; its accessible name is ``name``, else the tip without its shortcut ("… (Esc)")."""
    button = QToolButton(parent)
    button.setText(text)
    button.setToolTip(tip)
    button.setAccessibleName(name if name is not None else tip.split(" (")[0])
    button.setCheckable(checkable)
    if object_name:
        button.setObjectName(object_name)
    if clicked is not None:
        button.clicked.connect(clicked)
    return button
