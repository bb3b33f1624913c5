"""Widgets of the main window, one module per part of the screen."""
