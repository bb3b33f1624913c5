"""The two colour schemes, as plain data.

Shared by the Qt theme (QPalette + style sheet) and the markdown renderer,
whose HTML needs literal colours because QTextDocument has no CSS variables.
Qt-free so the renderer can be tested without a display.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Colors:
    name: str
    window: str
    surface: str  # transcript background
    sidebar: str
    text: str
    muted: str
    faint: str
    border: str
    accent: str
    accent_text: str
    accent_hover: str
    user_bubble: str
    code_bg: str
    code_header: str
    code_border: str
    inline_code_bg: str
    link: str
    quote_bg: str
    error_bg: str
    error_border: str
    error_text: str
    selection: str
    pygments_style: str
    # Background of words the model was unsure of (View ▸ Show uncertainty): a little, more, most.
    doubt_tints: tuple[str, str, str]


LIGHT = Colors(
    name="light",
    window="#f4f5f7",
    surface="#ffffff",
    sidebar="#f4f5f7",
    text="#1f2328",
    muted="#59636e",
    faint="#8b949e",
    border="#d8dde3",
    accent="#3b5bdb",
    accent_text="#ffffff",
    accent_hover="#324fc4",
    user_bubble="#eef1fb",
    code_bg="#f6f8fa",
    code_header="#eaeef2",
    code_border="#d0d7de",
    inline_code_bg="#eff1f3",
    link="#2f5bd3",
    quote_bg="#f6f8fa",
    error_bg="#fff1f0",
    error_border="#f3b8b3",
    error_text="#a4262c",
    selection="#c9d6ff",
    pygments_style="friendly",
    doubt_tints=("#fff3cc", "#ffe199", "#ffc98f"),
)

DARK = Colors(
    name="dark",
    window="#17181b",
    surface="#1e1f23",
    sidebar="#17181b",
    text="#e6e7ea",
    muted="#a0a6b0",
    faint="#767c86",
    border="#33363d",
    accent="#7c93ff",
    accent_text="#0e1020",
    accent_hover="#93a6ff",
    user_bubble="#2a2d37",
    code_bg="#15161a",
    code_header="#24262c",
    code_border="#34373f",
    inline_code_bg="#2b2d33",
    link="#8fa8ff",
    quote_bg="#24262c",
    error_bg="#3a1e20",
    error_border="#6e3438",
    error_text="#ffb4ab",
    selection="#3b4a86",
    pygments_style="github-dark",
    doubt_tints=("#3d3520", "#5a4618", "#78431c"),
)
