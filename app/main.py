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
from typing import TYPE_CHECKING

from app.version import app_version
from engine.identity import APP_ID, APP_NAME

if TYPE_CHECKING:
    from app.single_instance import Claim, ProfileLock

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


def _explain_claim(claimed: Claim, profile: ProfileLock, argv: list[str]) -> int:
    """Say what became of a launch that found a window already open on its data folder; the exit status."""
    from app.single_instance import Claim  # at run time too: the app's imports are lazy

    if claimed is Claim.HANDED_OVER:
        log.info("another window is open; handed it %s and exiting", argv)
        print("DiffusionGemma Chat is already open: its window was brought to the front.")
        return 0
    owner = profile.owner_pid()
    log.warning("the window of process %s holds %s but did not answer; exiting", owner, profile.path)
    print(
        "error: DiffusionGemma Chat is already open on these conversations"
        f"{f' (process {owner})' if owner else ''} but did not answer: it may be busy. "
        "Wait a moment and try again, or close that window first.",
        file=sys.stderr,
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    status = _subcommand(argv)
    if status is not None:
        return status
    args = build_parser().parse_args(argv)

    from app.gc_guard import GuiThreadGarbageCollector
    from app.icon import app_icon
    from app.logs import setup_logging

    log_path = setup_logging()
    log.info("starting; log file %s", log_path)
    app = _application(argv)
    claimed = _single_instance(app, args, argv)
    if isinstance(claimed, int):  # a window is already open on these chats: the exit status
        return claimed
    instances, profile = claimed
    icon = app_icon()
    app.setWindowIcon(icon)
    collector = GuiThreadGarbageCollector(app).start()  # before any worker thread exists
    session = _open_window(args, instances, icon)
    status = _run(app, instances, profile, *session)
    collector.stop()
    return status


def _application(argv: list[str]):
    """The QApplication (the one a test made, else a new one), named for the desktop and settings."""
    from app.qt import QApplication, QGuiApplication

    QGuiApplication.setDesktopFileName(APP_ID)  # = the desktop file ID and AppStream ID
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("DiffusionGemma Chat")
    app.setOrganizationName(APP_NAME)
    return app


def _single_instance(app, args: argparse.Namespace, argv: list[str]):
    """Hold the data folder's lock and listen for later launches: (server, lock); or, when a window is
    already open on these chats, the exit status after handing it this launch (or failing to)."""
    from app.single_instance import Claim, InstanceServer, ProfileLock, claim, server_name
    from app.store.paths import data_dir

    # One window per user and conversation store: a second launch brings the first forward.
    instance_name = server_name(data_dir())
    profile = ProfileLock(data_dir())
    claimed = claim(profile, instance_name, _launch_arguments(args))
    if claimed is not Claim.FIRST:
        return _explain_claim(claimed, profile, argv)
    instances = InstanceServer(instance_name, app)
    instances.listen()
    return instances, profile


def _open_window(args: argparse.Namespace, instances, icon) -> tuple:
    """Show the window, start loading the model, and open the first-run dialog and files asked for.

    Returns what :func:`_run` stops at the end: the engine host, the excepthook, the first-run dialog.
    """
    from app.config import load_config
    from app.logs import ExceptHook
    from app.ui.first_run import maybe_show_first_run
    from app.ui.window import MainWindow
    from app.worker import EngineHost
    from engine.model.demo import AUTO

    config = load_config()
    if args.theme:
        config = config.with_changes(theme=args.theme)
    host = EngineHost()
    try:
        window = MainWindow(config, host, icon=icon)
    except BaseException:
        # Its engine thread is running: left to the garbage collector, Qt would abort the
        # process (SIGABRT) and hide this error.
        host.shutdown(timeout_ms=CLOSE_WAIT_MS)
        raise
    hook = ExceptHook(window.report_error).install()
    instances.launched.connect(lambda launch: _on_launched_again(window, launch))
    window.show()
    # With nothing chosen yet AUTO lands on the demo model, which loads while the first-run dialog is open.
    window.load_model(args.model or config.model or AUTO)
    first_run = maybe_show_first_run(window, config, args.model)
    if args.files:
        window.add_files([Path(f).expanduser() for f in args.files])  # "Open with" on a file
    return host, hook, first_run


def _run(app, instances, profile, host, hook, first_run) -> int:
    """Run the event loop; then stop what outlives the window (a download, the engine thread)."""
    status = 1
    try:
        status = int(app.exec())
    finally:
        hook.uninstall()
        instances.close()  # later launches start a window of their own from now on
        instances.deleteLater()
        profile.release()
        if first_run is not None:
            first_run.shutdown()  # a download in progress stops; its partial files resume next time
        if not host.shutdown(timeout_ms=CLOSE_WAIT_MS):
            # Only a model load can outlast the wait (it cannot be interrupted between its
            # progress reports). Leave without it rather than abort in QThread's destructor.
            log.warning("the engine thread is still loading a model; exiting without waiting for it")
            logging.shutdown()
            os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
