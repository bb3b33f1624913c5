"""``python -m engine download [REPO]``: fetch a model into the standard Hugging Face cache.

Shows the download size first, then one progress line (bytes, speed, ETA).
Ctrl+C cancels cleanly: the partial file stays and the same command resumes
it (a second Ctrl+C stops at once; that resumes too).  Tokens are never taken
as arguments, where they would end up in shell history: the stored login is
used, or with ``--token-from-env`` the ``HF_TOKEN`` environment variable.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from engine.cancel import CancelToken
from engine.errors import ModelAccessError
from engine.hub.download import (
    DownloadProgress,
    download,
    format_bytes,
    free_disk_bytes,
    plan_download,
)
from engine.hub.models import hub_cache_dir
from engine.hub.names import tokens_url
from engine.model.loader import DEFAULT_MODEL


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a model into the Hugging Face cache (resumable)")
    p.add_argument("repo", nargs="?", default=DEFAULT_MODEL, help=f"Hub repo id (default: {DEFAULT_MODEL})")
    p.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    p.add_argument(
        "--token-from-env",
        action="store_true",
        help="use the access token in the HF_TOKEN environment variable for this download",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    token = _token_from_env() if args.token_from_env else None
    plan = plan_download(args.repo, revision=args.revision, token=token)
    err = sys.stderr
    if plan.offline:
        print(f"{plan.repo}: the Hub cannot be reached; using the complete cached copy", file=err)
    else:
        print(
            f"{plan.repo} @ {plan.revision[:10]}: {len(plan.files)} files, {format_bytes(plan.total_bytes)}"
            f" ({format_bytes(plan.already_cached_bytes)} already here, {format_bytes(plan.remaining_bytes)}"
            f" to fetch; {format_bytes(free_disk_bytes())} free in {hub_cache_dir()})",
            file=err,
        )
    cancel = CancelToken()
    line = ProgressLine(err)
    with _ctrl_c_cancels(cancel):
        result = download(plan, token=token, progress=line.show, cancel=cancel)
    line.finish()
    if result.cancelled:
        print("download cancelled; run the same command again to resume where it stopped", file=err)
        return 130
    print(str(result.path))  # stdout: the snapshot folder, for scripts
    return 0


def _token_from_env() -> str:
    token = (os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or "").strip()
    if not token:
        raise ModelAccessError(
            "--token-from-env was given but the HF_TOKEN environment variable is empty",
            fix=f"Set HF_TOKEN to a read token from {tokens_url()}",
        )
    return token


@contextmanager
def _ctrl_c_cancels(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl+C asks the download to stop cleanly; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def first_press(signum, frame) -> None:
        cancel.cancel()
        print("\ncancelling… (Ctrl+C again to stop at once)", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, first_press)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ProgressLine:
    """One progress line redrawn in place on a terminal; a line every few seconds elsewhere."""

    def __init__(self, stream: TextIO, every_s: float = 5.0) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.every_s = every_s
        self.last_print = float("-inf")
        self.last_files_done = -1
        self.width = 0

    def show(self, event: DownloadProgress) -> None:
        text = describe(event)
        if self.live:
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.width = len(text)
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self.last_print >= self.every_s or event.files_done != self.last_files_done:
            self.last_print = now
            self.last_files_done = event.files_done
            print(text, file=self.stream, flush=True)

    def finish(self) -> None:
        if self.live and self.width:
            self.stream.write("\n")
            self.stream.flush()


def describe(event: DownloadProgress) -> str:
    """``12.3 GB / 51.7 GB (23%)  85.2 MB/s  ETA 7m42s  [3/15] model-00003-of-00012.safetensors``."""
    percent = 100 * event.done_bytes // max(event.total_bytes, 1)
    speed = f"{format_bytes(event.bytes_per_s)}/s" if event.bytes_per_s else "-- /s"
    return (
        f"{format_bytes(event.done_bytes)} / {format_bytes(event.total_bytes)} ({percent}%)  {speed}  "
        f"ETA {format_eta(event.eta_s)}  [{event.files_done}/{event.files_total}] {event.current_file}"
    )


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
