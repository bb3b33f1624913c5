"""The model list: DiffusionGemma checkpoints in the Hugging Face cache, plus folders the user added.

The app keeps no catalogue of its own.  Downloads go to the standard HF cache
(shared with ``hf``, transformers and every other tool), so the list is rebuilt
from a scan of that cache each time: whatever another tool downloaded or
deleted shows up correctly.  Folders the user added are passed in by the GUI,
which persists them.  Completeness is decided by the same check the loader
runs (:func:`engine.model.checkpoint.check_checkpoint`), so "complete" in the list means
"will load"; ``missing_files`` says what a resumed download still has to fetch.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.errors import ModelFilesError
from engine.hub.tree_listing import ListedFile, read_listing
from engine.model.checkpoint import REQUIRED_FILES, TOKENIZER_FILES, check_checkpoint, safetensors_truncated
from engine.model.loader import DEFAULT_MODEL

log = logging.getLogger(__name__)

MODEL_TYPE = "diffusion_gemma"


@dataclass(frozen=True, slots=True)
class QuantizedCache:
    """A quantized copy of a model's weights, kept so that later loads skip quantizing."""

    path: Path
    size_bytes: int
    method: str


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """One entry of the model list.

    ``source`` is what ``Engine.load`` takes: the repo id for cached models, the
    folder path for added folders.  ``problem`` is the user-facing reason an
    entry cannot be loaded ("" when ``complete``).
    """

    name: str
    source: str
    path: Path
    size_bytes: int
    complete: bool
    missing_files: tuple[str, ...] = ()
    kind: Literal["cache", "folder"] = "cache"
    revision: str | None = None
    problem: str = ""
    quantized: QuantizedCache | None = None

    @property
    def removable(self) -> bool:
        """Only cache entries are deleted by :func:`remove_model`; user folders just leave the list."""
        return self.kind == "cache"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "path": str(self.path),
            "kind": self.kind,
            "revision": self.revision,
            "size_bytes": self.size_bytes,
            "complete": self.complete,
            "missing_files": list(self.missing_files),
            "problem": self.problem,
            "quantized": None
            if self.quantized is None
            else {
                "path": str(self.quantized.path),
                "size_bytes": self.quantized.size_bytes,
                "method": self.quantized.method,
            },
        }


def quantized_cache(model_path: Path) -> QuantizedCache | None:
    """The up-to-date 4-bit copy of ``model_path`` in the quantized cache, if there is one.

    Only a cache that ``engine.model.quant`` would load (same source files, settings
    and library versions) counts; a stale or corrupt one is rebuilt on the
    next load and so is not reported here.
    """
    from engine.model.quant import QuantSettings
    from engine.model.quant.cache import check_cache, default_cache_dir

    settings = QuantSettings()
    target = default_cache_dir(model_path, settings)
    if not target.is_dir() or not check_cache(target, model_path, settings).ok:
        return None
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    return QuantizedCache(path=target, size_bytes=size, method=settings.quant_type)


# -- cache layout ---------------------------------------------------------------------------------


def hub_cache_dir() -> Path:
    """The standard HF cache folder (``HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def repo_cache_folder(repo_id: str, cache_dir: Path | None = None) -> Path:
    """``<cache>/models--org--name``, the folder huggingface_hub keeps a model repo in."""
    from huggingface_hub.file_download import repo_folder_name

    return (cache_dir or hub_cache_dir()) / repo_folder_name(repo_id=repo_id, repo_type="model")


def cached_listing(repo_folder: Path, commit: str) -> dict[str, ListedFile] | None:
    """The commit's full file list (``trees/<commit>.json``, engine.hub.tree_listing), or None.

    It is what lets an offline check name exactly which files of a partial
    download are missing.
    """
    return read_listing(repo_folder, commit)


def partial_bytes(repo_folder: Path, sha256: str | None) -> int:
    """Bytes already fetched of an interrupted LFS download (``blobs/<sha256>.incomplete``)."""
    if not sha256:
        return 0
    part = repo_folder / "blobs" / f"{sha256}.incomplete"
    try:
        return part.stat().st_size
    except OSError:
        return 0


# -- completeness ---------------------------------------------------------------------------------


def missing_files(folder: Path, expected: Iterable[str] = ()) -> tuple[str, ...]:
    """The files ``folder`` lacks: those of ``expected`` (the commit's file list, when known),
    else those a loadable checkpoint needs; plus the shards its weights index names.

    Truncated safetensors shards are listed as ``"<name> (incomplete)"``.  This
    mirrors :func:`engine.model.checkpoint.check_checkpoint` but returns the names instead
    of one sentence, for the model list and for resume.
    """
    expected = list(expected)
    found: list[str] = [name for name in expected if not (folder / name).is_file()]
    # With the commit's file list the names above are exact; without it, name what the loader needs.
    generic = not expected
    if generic:
        found += [name for name in REQUIRED_FILES if not (folder / name).is_file()]
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            found.append(" or ".join(TOKENIZER_FILES))
    index = folder / "model.safetensors.index.json"
    shards: list[str] = []
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, OSError):
            found.append("model.safetensors.index.json (unreadable)")
    elif (folder / "model.safetensors").is_file():
        shards = ["model.safetensors"]
    elif generic:
        found.append("model.safetensors.index.json")
    for shard in shards:
        path = folder / shard
        if not path.is_file():
            found.append(shard)
        elif safetensors_truncated(path):
            found.append(f"{shard} (incomplete)")
    return tuple(dict.fromkeys(found))


def _checkpoint_problem(folder: Path) -> str:
    """The loader's own verdict on ``folder``: "" when it will load, else the user-facing message."""
    try:
        check_checkpoint(folder)
    except ModelFilesError as error:
        return str(error)
    return ""


def _is_diffusion_gemma(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == MODEL_TYPE


def _folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            pass
    return total


# -- the list -------------------------------------------------------------------------------------


def folder_model(folder: str | Path) -> InstalledModel:
    """Inspect a user-added checkpoint folder (it is listed even when unusable, with the reason)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        return InstalledModel(
            name=path.name or str(path),
            source=str(path),
            path=path,
            size_bytes=0,
            complete=False,
            kind="folder",
            problem=str(
                ModelFilesError(
                    "The model folder does not exist", fix="Choose the folder again, or remove it", path=path
                )
            ),
        )
    missing = missing_files(path)
    problem = _checkpoint_problem(path)
    return InstalledModel(
        name=path.name,
        source=str(path),
        path=path,
        size_bytes=_folder_size(path),
        complete=not missing and not problem,
        missing_files=missing,
        kind="folder",
        problem=problem,
        quantized=quantized_cache(path),
    )


def cached_models(cache_dir: Path | None = None) -> list[InstalledModel]:
    """DiffusionGemma repos in the HF cache, complete or partly downloaded.

    A repo counts when its ``config.json`` says ``model_type: diffusion_gemma``
    (our downloads fetch config.json first), or when it is the default model,
    so that a download interrupted in its first seconds still shows up.
    """
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir or hub_cache_dir())
    except CacheNotFound:
        return []
    for warning in info.warnings:
        log.debug("skipping a damaged cache entry: %s", warning)
    partial: dict[Path, int] = {}
    for part in info.incomplete_files:
        repo_path = part.file_path.parent.parent
        partial[repo_path] = partial.get(repo_path, 0) + part.size_on_disk
    models = []
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = _pick_revision(repo)
        snapshot = Path(revision.snapshot_path)
        if repo.repo_id != DEFAULT_MODEL and not _is_diffusion_gemma(snapshot):
            continue
        listing = cached_listing(Path(repo.repo_path), revision.commit_hash)
        missing = missing_files(snapshot, sorted(listing) if listing else ())
        problem = _checkpoint_problem(snapshot)
        if missing and not problem:
            problem = f"The download of {repo.repo_id} is not finished (missing: {', '.join(missing)})"
        models.append(
            InstalledModel(
                name=repo.repo_id.split("/")[-1],
                source=repo.repo_id,
                path=snapshot,
                size_bytes=repo.size_on_disk + partial.get(Path(repo.repo_path), 0),
                complete=not missing and not problem,
                missing_files=missing,
                kind="cache",
                revision=revision.commit_hash,
                problem=problem,
                quantized=quantized_cache(snapshot),
            )
        )
    return sorted(models, key=lambda m: m.source.lower())


def _pick_revision(repo):
    """The revision ``main`` points to, else any referenced one, else the newest (a first download)."""
    revisions = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
    for revision in revisions:
        if "main" in revision.refs:
            return revision
    for revision in revisions:
        if revision.refs:
            return revision
    return revisions[0]


def list_models(folders: Iterable[str | Path] = (), *, cache_dir: Path | None = None) -> list[InstalledModel]:
    """The whole model list: cached DiffusionGemma repos first, then the user's folders in their order."""
    return cached_models(cache_dir) + [folder_model(folder) for folder in folders]


def remove_model(model: InstalledModel, *, cache_dir: Path | None = None) -> int:
    """Delete a cached model with huggingface_hub's own cache-deletion strategy; returns bytes freed.

    All cached revisions of the repo go, partial downloads included.  Asking the
    user first is the caller's job.  User-added folders are never deleted here
    (they are the user's files): raise ValueError for them.
    """
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    if not model.removable:
        raise ValueError(f"{model.source} is a folder the user added; take it off the list instead")
    cache = cache_dir or hub_cache_dir()
    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return 0
    repo = next((r for r in info.repos if r.repo_type == "model" and r.repo_id == model.source), None)
    if repo is None:
        return 0
    partial = sum(
        p.size_on_disk for p in info.incomplete_files if p.file_path.parent.parent == repo.repo_path
    )
    strategy = info.delete_revisions(*(r.commit_hash for r in repo.revisions))
    strategy.execute()
    # Deleting every revision removes the repo folder; its lock folder is ours to tidy too.
    shutil.rmtree(Path(info.cache_dir or cache) / ".locks" / Path(repo.repo_path).name, ignore_errors=True)
    return strategy.expected_freed_size + partial
