"""The one place that imports PySide6.

Every other module imports Qt names from here (as qutebrowser does with its ``qt``
package), so a binding switch, a version check or a workaround lives in one file,
and a test can assert that nothing else touches PySide6 directly.
"""

from __future__ import annotations

import sys


def _pin_singletons() -> None:
    """Work around a reference-count bug of PySide6 6.12 on CPython 3.11.

    Every call of a wrapped C++ method returning ``void`` (``setText``,
    ``QPainter.setBrush``…) drops one reference to ``None`` that it never took
    (the bindings assume the immortal ``None`` of CPython 3.12+).  Python 3.11
    aborts with "deallocating None" once the count reaches zero, which a painted
    widget does within seconds.  Giving the singletons a huge reference count
    makes them immortal in practice, as they are on 3.12.
    """
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return
    import ctypes

    for singleton in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(singleton))
        if count.value < 1 << 40:
            count.value += 1 << 40


_pin_singletons()

from PySide6 import QtCore, QtGui, QtSvg, QtWidgets  # noqa: E402 (after the workaround)
from PySide6.QtCore import (  # noqa: E402
    QBuffer,
    QByteArray,
    QCoreApplication,
    QElapsedTimer,
    QEvent,
    QIODevice,
    QLockFile,
    QMargins,
    QMimeData,
    QObject,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QRunnable,
    QSize,
    Qt,
    QThread,
    QThreadPool,
    QTimer,
    QtMsgType,
    QUrl,
    Signal,
    Slot,
    qInstallMessageHandler,
)
from PySide6.QtGui import (  # noqa: E402
    QAction,
    QColor,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QIcon,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QShortcut,
    QStaticText,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtNetwork import QLocalServer, QLocalSocket  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMenuBar,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QStatusBar,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

QT_VERSION: tuple[int, ...] = tuple(int(part) for part in QtCore.qVersion().split(".")[:3])

__all__ = [
    "QT_VERSION",
    "QAbstractButton",
    "QAbstractSpinBox",
    "QAction",
    "QApplication",
    "QBuffer",
    "QButtonGroup",
    "QByteArray",
    "QCheckBox",
    "QColor",
    "QComboBox",
    "QCoreApplication",
    "QDesktopServices",
    "QDialog",
    "QDialogButtonBox",
    "QDoubleSpinBox",
    "QDragEnterEvent",
    "QDropEvent",
    "QElapsedTimer",
    "QEvent",
    "QFileDialog",
    "QFont",
    "QFontMetrics",
    "QFormLayout",
    "QFrame",
    "QGraphicsDropShadowEffect",
    "QGuiApplication",
    "QHBoxLayout",
    "QIODevice",
    "QIcon",
    "QImage",
    "QKeyEvent",
    "QKeySequence",
    "QLabel",
    "QLineEdit",
    "QListWidget",
    "QListWidgetItem",
    "QLocalServer",
    "QLocalSocket",
    "QLockFile",
    "QMainWindow",
    "QMargins",
    "QMenu",
    "QMenuBar",
    "QMessageBox",
    "QMimeData",
    "QObject",
    "QPainter",
    "QPalette",
    "QPen",
    "QPixmap",
    "QPlainTextEdit",
    "QPoint",
    "QPointF",
    "QProgressBar",
    "QPushButton",
    "QRadioButton",
    "QRect",
    "QRectF",
    "QRunnable",
    "QScrollArea",
    "QShortcut",
    "QSize",
    "QSizePolicy",
    "QSlider",
    "QSpinBox",
    "QSplitter",
    "QStackedWidget",
    "QStaticText",
    "QStatusBar",
    "QStyleOptionViewItem",
    "QStyledItemDelegate",
    "QTextBrowser",
    "QTextCharFormat",
    "QTextCursor",
    "QTextDocument",
    "QTextEdit",
    "QTextFormat",
    "QThread",
    "QThreadPool",
    "QTimer",
    "QToolButton",
    "QUrl",
    "QVBoxLayout",
    "QWidget",
    "Qt",
    "QtCore",
    "QtGui",
    "QtMsgType",
    "QtSvg",
    "QtWidgets",
    "Signal",
    "Slot",
    "qInstallMessageHandler",
]
