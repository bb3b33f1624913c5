"""Entry points: the ``dgchat`` console script and ``python -m app``.

``dgchat [--model DIR|REPO|demo]`` opens the window and loads the model on the
engine thread (the window is usable at once).  ``dgchat export|import …`` are
the conversation tools (``app.cli``), which need no display.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app.version import app_version
from engine.identity import APP_ID, APP_NAME

log = logging.getLogger(__name__)

CLOSE_WAIT_MS = 10_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgchat",
        description="DiffusionGemma Chat: watch each 256-token canvas refine live.",
    )
    parser.add_argument(
        "--model",
        metavar="DIR|REPO|demo",
        help="a checkpoint folder, a Hugging Face repo id, or 'demo' "
        "(default: the last model used, else demo)",
    )
    parser.add_argument(
        "--theme", choices=("system", "light", "dark"), help="override the theme for this run"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {app_version()}")
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="images, videos, text files or PDFs to attach (what the desktop's 'Open with' passes)",
    )
    return parser


def _subcommand(argv: Sequence[str]) -> int | None:
    """Run ``export``/``import`` when asked for; None when argv is for the window."""
    if not argv or argv[0].startswith("-"):
        return None
    try:
        from app import cli
    except ImportError:
        return None
    if argv[0] in cli.SUBCOMMANDS:
        return cli.main(list(argv))
    return None


def _launch_arguments(args: argparse.Namespace) -> list[str]:
    """What a launch asks of the window, to hand to one already open: its model and files.

    The files are made absolute here, because the open window runs in another folder.
    """
    model = ["--model", args.model] if args.model else []
    return [*model, *(str(Path(f).expanduser().resolve()) for f in args.files)]


def _on_launched_again(window, argv: list[str]) -> None:
    """A later launch handed over (app.single_instance): come forward, switch model, attach its files."""
    try:
        known, _unknown = build_parser().parse_known_args(argv)
    except SystemExit:  # a malformed hand-over: the later launch already said what was wrong
        known = argparse.Namespace(model=None, files=[])
    window.bring_to_front(known.model)
    if known.files:
        window.add_files([Path(f) for f in known.files])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    status = _subcommand(argv)
    if status is not None:
        return status
    args = build_parser().parse_args(argv)

    from app.config import load_config
    from app.gc_guard import GuiThreadGarbageCollector
    from app.icon import app_icon
    from app.logs import ExceptHook, setup_logging
    from app.qt import QApplication, QGuiApplication
    from app.single_instance import InstanceServer, hand_over, server_name
    from app.store.paths import data_dir
    from app.ui.first_run import maybe_show_first_run
    from app.ui.window import MainWindow
    from app.worker import EngineHost
    from engine.model.demo import AUTO

    log_path = setup_logging()
    log.info("starting; log file %s", log_path)
    QGuiApplication.setDesktopFileName(APP_ID)  # = the desktop file ID and AppStream ID
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("DiffusionGemma Chat")
    app.setOrganizationName(APP_NAME)
    # One window per user and conversation store: a second launch brings the first forward.
    instance_name = server_name(data_dir())
    if hand_over(instance_name, _launch_arguments(args)):
        log.info("another window is open; handed it %s and exiting", argv)
        print("DiffusionGemma Chat is already open: its window was brought to the front.")
        return 0
    instances = InstanceServer(instance_name, app)
    instances.listen()
    icon = app_icon()
    app.setWindowIcon(icon)
    collector = GuiThreadGarbageCollector(app).start()  # before any worker thread exists
    config = load_config()
    if args.theme:
        config = config.with_changes(theme=args.theme)
    host = EngineHost()
    window = MainWindow(config, host, icon=icon)
    hook = ExceptHook(window.report_error).install()
    instances.launched.connect(lambda launch: _on_launched_again(window, launch))
    window.show()
    # With nothing chosen yet AUTO lands on the demo model, which loads while the first-run dialog is open.
    window.load_model(args.model or config.model or AUTO)
    first_run = maybe_show_first_run(window, config, args.model)
    if args.files:
        window.add_files([Path(f).expanduser() for f in args.files])  # "Open with" on a file
    status = 1
    try:
        status = int(app.exec())
    finally:
        hook.uninstall()
        instances.close()  # later launches start a window of their own from now on
        instances.deleteLater()
        if first_run is not None:
            first_run.shutdown()  # a download in progress stops; its partial files resume next time
        if not host.shutdown(timeout_ms=CLOSE_WAIT_MS):
            # Only a model load can outlast the wait (it cannot be interrupted between its
            # progress reports). Leave without it rather than abort in QThread's destructor.
            log.warning("the engine thread is still loading a model; exiting without waiting for it")
            logging.shutdown()
            os._exit(status)
    collector.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
