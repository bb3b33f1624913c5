"""Download a DiffusionGemma checkpoint from the Hugging Face Hub into the standard HF cache.

The first-run dialog needs four things ``snapshot_download`` does not give:
the download size before anything is fetched (:func:`plan_download`), typed
progress events (:class:`DownloadProgress`), cancel from the GUI, and resume
after a cancel, a dropped connection or an app restart.

Resume is why each file's bytes are fetched here rather than by
``hf_hub_download``: huggingface_hub 2.x downloads into a process-unique
temporary file and deletes it on any failure, so a cancelled 5 GB shard would
start again from zero.  This module streams each file into
``<cache>/models--org--name/blobs/<etag>.incomplete`` (the name
``scan_cache_dir`` reports as an interrupted download), continues it with an
HTTP ``Range`` request, verifies it, renames it to ``blobs/<etag>`` and then
calls ``hf_hub_download``, which finds the blob and creates the snapshot link
exactly as for its own downloads.  The result is an ordinary cache entry that
``hf``, transformers and :func:`engine.model.checkpoint.resolve_source` all use.

Verification: every file's size must match the Hub's; LFS files (the weight
shards) must match the sha256 the Hub lists for them, and plain git files the
git blob id (sha1 of ``"blob <size>\\0" + content``) when the Hub lists one.
A mismatch after a resume discards the file and fetches it once more from
scratch; a mismatch on a fresh download is an error.

Tokens are never stored by this app: :func:`save_token` hands them to
``huggingface_hub.login``, which keeps them in ``HF_HOME`` where every
Hugging Face tool finds them, and nothing here logs them.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx2 as _httpx  # huggingface_hub (>= 2.4) speaks HTTP through httpx2

from engine.cancel import CancelToken
from engine.errors import EngineError, ModelAccessError, ModelFilesError
from engine.hub.models import cached_listing, hub_cache_dir, missing_files, partial_bytes, repo_cache_folder
from engine.hub.names import format_bytes, licence_url, tokens_url
from engine.hub.tree_listing import ListedFile, read_listing, write_listing
from engine.model.loader import DEFAULT_MODEL

log = logging.getLogger(__name__)


HASH_BLOCK_BYTES = 8 << 20  # read size when hashing what a previous run left
MAX_RETRIES = 5  # consecutive failures without new bytes before giving up on a file
RETRY_WAIT_S = 1.0  # first back-off; doubles per consecutive failure
PROGRESS_INTERVAL_S = 0.2  # at most five events a second, plus one per finished file
SPEED_WINDOW_S = 10.0  # speed is averaged over this much recent time
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class DiskSpaceError(EngineError):
    """Not enough free disk space for what is left to download."""


class _CancelledError(Exception):
    """Internal: the CancelToken fired; the partial file stays for the next run."""


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Download progress, sent to the ``progress`` callback on the downloading thread.

    ``done_bytes`` counts everything on disk (files cached before this run and
    resumed partial files included), so it starts where a previous run stopped
    and never decreases; ``bytes_per_s`` and ``eta_s`` only count this run's
    network transfer (``eta_s`` is None until a speed is known).
    """

    done_bytes: int
    total_bytes: int
    bytes_per_s: float
    eta_s: float | None
    current_file: str
    files_done: int
    files_total: int


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """One repo file: its size, its checksums, and how much of it is already on disk."""

    name: str
    size: int
    sha256: str | None = None  # LFS files: the Hub's sha256 of the content
    blob_id: str | None = None  # the git object id
    cached_bytes: int = 0  # == size when cached, partial bytes when a download can resume

    @property
    def complete(self) -> bool:
        return self.cached_bytes >= self.size


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    """What a download will fetch: shown to the user before it starts.

    ``revision`` is the commit the download is pinned to, so every file comes
    from the same commit even if the branch moves meanwhile; ``ref`` is the
    branch or tag asked for.  ``offline`` plans come from the cache alone
    (the Hub was unreachable) and are complete by construction.
    """

    repo: str
    revision: str
    files: tuple[PlannedFile, ...]
    total_bytes: int
    already_cached_bytes: int
    ref: str = "main"
    offline: bool = False

    @property
    def remaining_bytes(self) -> int:
        return self.total_bytes - self.already_cached_bytes

    @property
    def missing_files(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files if not f.complete)

    @property
    def licence_url(self) -> str:
        return licence_url(self.repo)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """How a download ended: ``complete``, or ``cancelled`` with the partial files kept for resume."""

    plan: DownloadPlan
    path: Path  # the snapshot folder (what Engine.load resolves the repo id to)
    complete: bool
    cancelled: bool
    transferred_bytes: int  # bytes fetched over the network by this run


def free_disk_bytes(path: str | Path | None = None) -> int:
    """Free bytes on the disk holding ``path`` (default: the HF cache).

    Walks up to the nearest existing folder, because before the first download
    the cache folder does not exist yet.
    """
    current = Path(path).expanduser().absolute() if path is not None else hub_cache_dir().absolute()
    for candidate in (current, *current.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


# -- errors ---------------------------------------------------------------------------------------


# Failures that mean "the Hub cannot be reached": no network, DNS failure, refused
# connection, timeouts, a dropped connection, or HF_HUB_OFFLINE=1.
def _network_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    return (_httpx.TransportError, OfflineModeIsEnabled, LocalEntryNotFoundError)


def _token_known(token: str | bool | None) -> bool:
    if isinstance(token, str):
        return bool(token)
    if token is False:
        return False
    from huggingface_hub import get_token

    return get_token() is not None


def access_error(repo_id: str, error: Exception, token: str | bool | None = None) -> EngineError:
    """Turn a Hub HTTP error into the user-facing message: what happened, and what to do."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    url = licence_url(repo_id)
    how_token = (
        f"create a read token at {tokens_url()} and enter it in the app (or run `hf auth login`, "
        "or set the HF_TOKEN environment variable)"
    )
    if isinstance(error, RevisionNotFoundError):
        return ModelAccessError(
            f"The model {repo_id} has no such revision on the Hugging Face Hub",
            fix="Check the revision name, or leave it out to download the main branch",
        )
    if status == 403:
        return ModelAccessError(
            f"Your Hugging Face account has not been given access to {repo_id} yet: "
            "the model is gated behind its licence",
            fix=f"Open {url} while logged in to the account your token belongs to, accept the licence, "
            "and try again (access can take a few minutes to be granted)",
        )
    if status == 401 or isinstance(error, GatedRepoError):
        if _token_known(token):
            title = f"The Hugging Face Hub did not accept your access token for {repo_id}"
        else:
            title = (
                f"Downloading {repo_id} needs a Hugging Face access token: "
                "the model is gated behind its licence"
            )
        return ModelAccessError(
            title, fix=f"Open {url}, log in and accept the licence, then {how_token}, and try again"
        )
    if isinstance(error, RepositoryNotFoundError) or status == 404:
        return ModelAccessError(
            f"The Hugging Face Hub has no model named {repo_id}",
            fix="Check the name (it looks like organisation/model)",
        )
    if status is not None and status >= 500:
        return ModelAccessError(
            f"The Hugging Face Hub is having problems (HTTP {status})",
            fix="Try again in a few minutes; the download resumes where it stopped",
        )
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return ModelAccessError(
        f"Could not download {repo_id} ({first_line})",
        fix="Try again; the download resumes where it stopped",
    )


def _describe_missing(repo_folder: Path, files: list[tuple[str, int, str | None]]) -> str:
    """Names of missing files, with how far interrupted ones got: ``a, b (41% downloaded)``."""
    parts = []
    for name, size, sha256 in files:
        have = partial_bytes(repo_folder, sha256)
        parts.append(f"{name} ({100 * have // max(size, 1)}% downloaded)" if have and size else name)
    return ", ".join(parts)


def _unreachable(error: BaseException) -> str:
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return "offline mode is on (HF_HUB_OFFLINE)"
    return "no connection"


# -- planning -------------------------------------------------------------------------------------


def _download_order(name: str) -> tuple[bool, str]:
    """Small files first: config.json lands in the first second, so even a barely started
    download is recognised as a DiffusionGemma model in the model list."""
    return (name.endswith(".safetensors"), name)


def plan_download(
    repo_id: str = DEFAULT_MODEL, *, revision: str = "main", token: str | bool | None = None
) -> DownloadPlan:
    """List the repo's files with their sizes and what is already cached; downloads nothing.

    ``token`` None uses the token huggingface_hub finds (``HF_TOKEN`` or the
    stored login).  Raises ModelAccessError for gated or unknown repos.  When
    the Hub cannot be reached, a complete cached copy yields an ``offline``
    plan; an incomplete one raises ModelAccessError naming the missing files.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True, token=token)
    except _network_errors() as error:
        return _offline_plan(repo_id, revision, error)
    except HfHubHTTPError as error:
        raise access_error(repo_id, error, token) from None
    folder = repo_cache_folder(repo_id)
    snapshot = folder / "snapshots" / str(info.sha)
    files = []
    for sibling in sorted(info.siblings or (), key=lambda s: _download_order(s.rfilename)):
        lfs = sibling.lfs
        size = int(lfs.size if lfs is not None else (sibling.size or 0))
        sha256 = lfs.sha256 if lfs is not None else None
        blob = folder / "blobs" / str(sha256 or sibling.blob_id)
        if (snapshot / sibling.rfilename).is_file() or blob.is_file():
            cached = size
        else:
            cached = min(partial_bytes(folder, sha256), size)
        files.append(PlannedFile(sibling.rfilename, size, sha256, sibling.blob_id, cached))
    return DownloadPlan(
        repo=repo_id,
        revision=str(info.sha),
        files=tuple(files),
        total_bytes=sum(f.size for f in files),
        already_cached_bytes=sum(f.cached_bytes for f in files),
        ref=revision,
    )


def _offline_plan(repo_id: str, revision: str, error: BaseException) -> DownloadPlan:
    """The plan of a complete cached copy, or a ModelAccessError saying what is missing."""
    folder = repo_cache_folder(repo_id)
    commit = _cached_commit(folder, revision)
    reason = _unreachable(error)
    if commit is None:
        raise ModelAccessError(
            f"Cannot reach the Hugging Face Hub ({reason}) and {repo_id} is not in the cache",
            fix="Connect to the internet and try again, or choose a model folder already on this computer",
        ) from None
    snapshot = folder / "snapshots" / commit
    listing = cached_listing(folder, commit)
    missing = missing_files(snapshot, sorted(listing) if listing else ())
    if missing:
        described = _describe_missing(
            folder,
            [
                (name, listing[name].size, listing[name].sha256)
                if listing and name in listing
                else (name, 0, None)
                for name in missing
            ],
        )
        raise ModelAccessError(
            f"Cannot reach the Hugging Face Hub ({reason}) and the cached copy of {repo_id} is incomplete "
            f"(missing: {described})",
            fix="Connect to the internet and start the download again: it resumes where it stopped",
            path=snapshot,
        ) from None
    names = (
        sorted(listing) if listing else sorted(p.relative_to(snapshot).as_posix() for p in _files(snapshot))
    )
    files = tuple(
        PlannedFile(n, s, listing[n].sha256 if listing else None, None, s)
        for n, s in ((n, (snapshot / n).stat().st_size) for n in names)
    )
    total = sum(f.size for f in files)
    return DownloadPlan(repo_id, commit, files, total, total, ref=revision, offline=True)


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())


def _cached_commit(folder: Path, revision: str) -> str | None:
    """The cached commit for ``revision``: via ``refs/``, else the newest snapshot (an unfinished
    first download, whose ref is only written once it completes)."""
    snapshots = folder / "snapshots"
    if (snapshots / revision).is_dir():
        return revision
    ref = folder / "refs" / revision
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
        if (snapshots / commit).is_dir():
            return commit
    candidates = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    return candidates[-1].name if candidates else None


# -- progress -------------------------------------------------------------------------------------


class _Progress:
    """Turns byte counts into throttled DownloadProgress events with speed and ETA."""

    def __init__(self, plan: DownloadPlan, callback: Callable[[DownloadProgress], None] | None) -> None:
        self.callback = callback
        self.total = plan.total_bytes
        self.files_total = len(plan.files)
        self.files_done = 0
        self.finished_bytes = 0  # bytes of files finished (or found cached)
        self.current_file = ""
        self.current_bytes = 0  # bytes of the current file on disk
        self.transferred = 0  # network bytes this run
        self.last_done = 0
        self.last_emit = float("-inf")
        self.samples: deque[tuple[float, int]] = deque()
        self.speed = 0.0

    def file_cached(self, f: PlannedFile) -> None:
        self.files_done += 1
        self.finished_bytes += f.size

    def start_file(self, f: PlannedFile) -> None:
        self.current_file = f.name
        self.current_bytes = 0
        self.emit(force=True)

    def file_bytes(self, on_disk: int, fetched: int = 0) -> None:
        self.current_bytes = on_disk
        self.transferred += fetched
        self.emit()

    def finish_file(self, f: PlannedFile) -> None:
        self.files_done += 1
        self.finished_bytes += f.size
        self.current_bytes = 0
        self.emit(force=True)

    def emit(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.callback is None or (not force and now - self.last_emit < PROGRESS_INTERVAL_S):
            return
        self.last_emit = now
        self.samples.append((now, self.transferred))
        while len(self.samples) > 2 and now - self.samples[1][0] >= SPEED_WINDOW_S:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        if now - t0 >= 0.05:
            self.speed = (self.transferred - b0) / (now - t0)
        done = min(self.total, max(self.last_done, self.finished_bytes + self.current_bytes))
        self.last_done = done
        left = self.total - done
        eta = 0.0 if left == 0 else (left / self.speed if self.speed > 0 else None)
        self.callback(
            DownloadProgress(
                done_bytes=done,
                total_bytes=self.total,
                bytes_per_s=self.speed,
                eta_s=eta,
                current_file=self.current_file,
                files_done=self.files_done,
                files_total=self.files_total,
            )
        )


# -- the transfer ---------------------------------------------------------------------------------


class _Checksum:
    """Incremental sha256 (LFS files) or git blob sha1 (plain files) of what is on disk."""

    def __init__(self, kind: str | None, expected: str | None, size: int) -> None:
        self.kind = kind if expected else None
        self.expected = (expected or "").lower()
        self.size = size
        self.reset()

    def reset(self) -> None:
        if self.kind == "sha256":
            self.hash = hashlib.sha256()
        elif self.kind == "git":
            self.hash = hashlib.sha1(b"blob %d\0" % self.size)
        else:
            self.hash = None

    def update(self, data: bytes) -> None:
        if self.hash is not None:
            self.hash.update(data)

    def feed_prefix(self, path: Path, length: int, cancel: CancelToken) -> None:
        """Hash the bytes a previous run left, so a resumed file is verified end to end."""
        if self.hash is None or length == 0:
            return
        with path.open("rb") as handle:
            left = length
            while left:
                if cancel.cancelled:
                    raise _CancelledError
                block = handle.read(min(left, HASH_BLOCK_BYTES))
                if not block:
                    break
                self.hash.update(block)
                left -= len(block)

    def ok(self) -> bool:
        return self.hash is None or self.hash.hexdigest() == self.expected


def _checksum_for(f: PlannedFile, etag: str) -> _Checksum:
    if f.sha256:
        return _Checksum("sha256", f.sha256, f.size)
    if len(etag) == 64 and f.blob_id is None:  # an LFS etag is the sha256
        return _Checksum("sha256", etag, f.size)
    return _Checksum("git", f.blob_id, f.size)


@contextmanager
def _blob_lock(path: Path, cancel: CancelToken) -> Iterator[None]:
    """huggingface_hub's own per-blob lock, so two downloaders (the app and `hf`, say) never write
    the same file; waiting for it stays cancellable."""
    from filelock import Timeout
    from huggingface_hub.utils import WeakFileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    stack = ExitStack()
    while True:
        try:
            stack.enter_context(WeakFileLock(path, timeout=1.0))
            break
        except Timeout:
            if cancel.cancelled:
                raise _CancelledError from None
            log.info("waiting for another download of %s", path.name)
    with stack:
        yield


def _sleep(seconds: float, cancel: CancelToken) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancel.cancelled:
            raise _CancelledError
        time.sleep(min(left, 0.1))


def _stream_once(
    url: str,
    out: BinaryIO,
    have: int,
    size: int,
    headers: dict[str, str],
    checksum: _Checksum,
    progress: _Progress,
    cancel: CancelToken,
) -> int:
    """One GET from byte ``have`` on; returns the bytes on disk when the response ends."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session, hf_raise_for_status

    request_headers = {**headers, "Accept-Encoding": "identity"}
    if have:
        request_headers["Range"] = f"bytes={have}-"
    timeout = _httpx.Timeout(constants.HF_HUB_DOWNLOAD_TIMEOUT, connect=constants.HF_HUB_ETAG_TIMEOUT)
    with get_session().stream("GET", url, headers=request_headers, timeout=timeout) as response:
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
        start = _range_start(response.headers.get("Content-Range")) if response.status_code == 206 else 0
        if start != have:
            # The server ignored the Range (or answered another one): start this file over.
            log.info("server did not resume %s at byte %d; fetching it from the start", url, have)
            out.seek(0)
            out.truncate()
            checksum.reset()
            have = 0
            if start != 0:
                return have
        # Pieces as they arrive (tens of KiB): progress and cancel stay responsive on slow links,
        # and whatever arrived is written before a cancel is honoured, so none of it is fetched twice.
        for chunk in response.iter_bytes():
            if have + len(chunk) > size:
                raise ModelFilesError(
                    "The Hub sent more data than the file's listed size", fix="Start the download again"
                )
            out.write(chunk)
            checksum.update(chunk)
            have += len(chunk)
            progress.file_bytes(have, len(chunk))
            if cancel.cancelled:
                raise _CancelledError
    return have


def _range_start(content_range: str | None) -> int:
    """The first byte of ``Content-Range: bytes <start>-<end>/<size>``; -1 when unreadable."""
    try:
        return int((content_range or "").split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _transfer(
    url: str,
    blob: Path,
    f: PlannedFile,
    checksum: _Checksum,
    headers: dict[str, str],
    progress: _Progress,
    cancel: CancelToken,
) -> None:
    """Fetch ``url`` into ``blob`` via ``blob.incomplete``, resuming and retrying; verify; rename."""
    from huggingface_hub.errors import HfHubHTTPError

    part = blob.with_name(blob.name + ".incomplete")
    part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        have = part.stat().st_size if part.exists() else 0
        if have > f.size:
            part.unlink()
            have = 0
        resumed_from = have
        checksum.reset()
        checksum.feed_prefix(part, have, cancel)
        progress.file_bytes(have)
        failures = 0
        with part.open("ab") as out:
            while have < f.size:
                if cancel.cancelled:
                    raise _CancelledError
                before = have
                try:
                    have = _stream_once(url, out, have, f.size, headers, checksum, progress, cancel)
                    if have < f.size:
                        raise _httpx.RemoteProtocolError("the response ended early")
                except (_httpx.TransportError, HfHubHTTPError) as error:
                    status = getattr(getattr(error, "response", None), "status_code", None)
                    if isinstance(error, HfHubHTTPError) and status not in _RETRY_STATUS:
                        raise
                    out.flush()
                    have = out.tell()
                    failures = 1 if have > before else failures + 1
                    if failures > MAX_RETRIES:
                        raise
                    log.warning("download of %s interrupted at byte %d (%s); resuming", f.name, have, error)
                    _sleep(RETRY_WAIT_S * 2 ** (failures - 1), cancel)
        if checksum.ok():
            os.replace(part, blob)
            return
        part.unlink(missing_ok=True)
        if resumed_from == 0 or attempt == 2:
            raise ModelFilesError(
                f"{f.name} arrived damaged (its checksum does not match the Hub's) and was deleted",
                fix="Start the download again; if it keeps happening, check the disk and the network",
            )
        log.warning(
            "%s failed verification after resuming at byte %d; fetching it again", f.name, resumed_from
        )


def _fetch_file(plan: DownloadPlan, f: PlannedFile, token: str | bool | None, progress, cancel) -> None:
    """Bring one file into the cache: blob (resumable) first, then the snapshot link."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(plan.repo, f.name, revision=plan.revision)
    meta = get_hf_file_metadata(url, token=token)
    etag = meta.etag or f.sha256 or f.blob_id
    if not etag:
        raise ModelFilesError(f"The Hub gave no checksum for {f.name}", fix="Try again later")
    if meta.size is not None and meta.size != f.size:
        f = PlannedFile(f.name, meta.size, f.sha256, f.blob_id, f.cached_bytes)
    folder = repo_cache_folder(plan.repo)
    blob = folder / "blobs" / etag
    if not blob.is_file():
        lock = hub_cache_dir() / ".locks" / folder.name / f"{etag}.lock"
        with _blob_lock(lock, cancel):
            if not blob.is_file():
                headers = build_hf_headers(token=token)
                _transfer(url, blob, f, _checksum_for(f, etag), headers, progress, cancel)
    # The blob is in place: hf_hub_download only links it into the snapshot (no transfer).
    hf_hub_download(plan.repo, f.name, revision=plan.revision, token=token)


def _write_tree_listing(folder: Path, plan: DownloadPlan) -> None:
    """Record the commit's file list where huggingface_hub keeps it (``trees/<commit>.json``).

    Offline, that listing lets us (and ``snapshot_download``) tell a partial
    download from a complete one and name the missing files.
    """
    if any(f.blob_id is None for f in plan.files):
        return
    if read_listing(folder, plan.revision) is not None:
        return
    write_listing(
        folder, plan.revision, [ListedFile(f.name, f.size, f.sha256, str(f.blob_id)) for f in plan.files]
    )


def _write_ref(folder: Path, ref: str, commit: str) -> None:
    """Point ``refs/<ref>`` at the commit, as huggingface_hub does; only once every file is in,
    so an older complete revision stays the one that loads until the new one is whole."""
    if ref == commit:
        return
    path = folder / "refs" / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != commit:
        path.write_text(commit, encoding="utf-8")


def download(
    plan: DownloadPlan | str = DEFAULT_MODEL,
    *,
    token: str | bool | None = None,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> DownloadResult:
    """Download (or resume) everything the plan lists into the standard HF cache.

    Blocking: run it off the GUI thread; ``progress`` is called on this thread.
    ``cancel`` is checked for every piece received; a cancelled download returns
    with ``cancelled`` set and keeps its partial file, so the next call resumes.
    A lost connection is retried (resuming) a few times, then raises
    ModelAccessError naming the files still missing; those resume too.
    """
    if isinstance(plan, str):
        plan = plan_download(plan, token=token)
    cancel = cancel or CancelToken()
    folder = repo_cache_folder(plan.repo)
    snapshot = folder / "snapshots" / plan.revision
    reporter = _Progress(plan, progress)
    if plan.offline:
        for f in plan.files:
            reporter.file_cached(f)
        reporter.emit(force=True)
        return DownloadResult(plan, snapshot, complete=True, cancelled=False, transferred_bytes=0)
    _check_free_space(plan)
    snapshot.mkdir(parents=True, exist_ok=True)
    _write_tree_listing(folder, plan)
    pending = [f for f in plan.files if not (snapshot / f.name).is_file()]
    for f in plan.files:
        if f not in pending:
            reporter.file_cached(f)
    if not _fetch_all(plan, pending, token, reporter, cancel):
        log.info("download of %s cancelled; it resumes on the next start", plan.repo)
        return DownloadResult(plan, snapshot, False, True, reporter.transferred)
    _write_ref(folder, plan.ref, plan.revision)
    reporter.emit(force=True)
    return DownloadResult(plan, snapshot, True, False, reporter.transferred)


def _check_free_space(plan: DownloadPlan) -> None:
    """Refuse before the first byte when the cache's disk cannot hold what is left to fetch."""
    free = free_disk_bytes(hub_cache_dir())
    if free < plan.remaining_bytes:
        raise DiskSpaceError(
            f"Not enough free disk space to download {plan.repo}: {format_bytes(plan.remaining_bytes)} "
            f"more is needed and {format_bytes(free)} is free",
            fix="Free up space on that disk, or set HF_HUB_CACHE (or HF_HOME) to a folder on a larger disk "
            "and restart the app",
            path=hub_cache_dir(),
        )


def _fetch_all(
    plan: DownloadPlan,
    pending: list[PlannedFile],
    token: str | bool | None,
    reporter: _Progress,
    cancel: CancelToken,
) -> bool:
    """Fetch each pending file; False when cancelled.  Failures become errors that name the fix."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        for f in pending:
            if cancel.cancelled:
                raise _CancelledError
            reporter.start_file(f)
            _fetch_file(plan, f, token, reporter, cancel)
            reporter.finish_file(f)
    except _CancelledError:
        return False
    except _network_errors() as error:
        folder = repo_cache_folder(plan.repo)
        snapshot = folder / "snapshots" / plan.revision
        still = [f for f in plan.files if not (snapshot / f.name).is_file()]
        described = _describe_missing(folder, [(f.name, f.size, f.sha256) for f in still])
        raise ModelAccessError(
            f"The connection to the Hugging Face Hub was lost while downloading {plan.repo} "
            f"({_unreachable(error)}; still missing: {described})",
            fix="Check the internet connection and start the download again: it resumes where it stopped",
        ) from None
    except HfHubHTTPError as error:
        raise access_error(plan.repo, error, token) from None
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise DiskSpaceError(
            f"The disk filled up while downloading {plan.repo}",
            fix="Free up space and start the download again: it resumes where it stopped",
            path=hub_cache_dir(),
        ) from None
    return True


# -- tokens ---------------------------------------------------------------------------------------


def save_token(token: str) -> str:
    """Check ``token`` with the Hub and store it the way huggingface_hub does; returns the account name.

    ``huggingface_hub.login`` keeps it in ``HF_HOME`` (``token`` and
    ``stored_tokens``, owner-only permissions), where this app, ``hf`` and
    transformers all find it; it is never written to this app's settings or
    logs.  A ``HF_TOKEN`` environment variable still takes precedence.
    """
    from huggingface_hub import HfApi, login
    from huggingface_hub.errors import HfHubHTTPError

    token = token.strip()
    if not token:
        raise ModelAccessError("The access token is empty", fix=f"Paste a read token from {tokens_url()}")
    try:
        name = HfApi().whoami(token=token)["name"]
        login(token=token, add_to_git_credential=False)
    except _network_errors():
        raise ModelAccessError(
            "Cannot reach the Hugging Face Hub to check the access token",
            fix="Connect to the internet and try again",
        ) from None
    except HfHubHTTPError:
        raise ModelAccessError(
            "The Hugging Face Hub did not accept this access token",
            fix=f"Copy a read token from {tokens_url()} (it starts with hf_) and try again",
        ) from None
    except ValueError as error:  # an organisation token
        raise ModelAccessError(str(error), fix=f"Use a personal read token from {tokens_url()}") from None
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        log.warning("HF_TOKEN is set in the environment and is used instead of the token just saved")
    return str(name)
