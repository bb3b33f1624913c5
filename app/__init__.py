"""DiffusionGemma Chat: the Qt desktop window.

Everything Qt comes through :mod:`app.qt`; the engine (``engine/``) stays Qt-free and
talks to the window only through its typed events.
"""
