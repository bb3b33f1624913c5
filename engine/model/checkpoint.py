"""Is a folder a complete DiffusionGemma checkpoint, and where is a repo id's folder?

Offline first: a repo id is looked up in the standard Hugging Face cache
before anything touches the network, so a downloaded model starts without a
connection.  Before transformers sees a folder, it is checked for the files a
DiffusionGemma checkpoint needs, so a missing or half-downloaded model gets a
message listing what is missing instead of a stack trace.

These checks sit below both the loader and the 4-bit cache (which builds its
copy from a checked folder), so neither has to import the other to use them.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from engine.errors import ModelAccessError, ModelFilesError
from engine.hub.names import licence_url

# Files every checkpoint needs besides its weights.
REQUIRED_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


def resolve_source(source: str | Path, *, allow_download: bool = False, token: str | None = None) -> Path:
    """Return a local folder for ``source``: a path, or a repo id found in (or fetched to) the HF cache."""
    text = str(source)
    path = Path(text).expanduser()
    if path.exists() or text.startswith((".", "/", "~")) or len(text.split("/")) != 2:
        if not path.exists():
            raise ModelFilesError(
                "The model folder does not exist", fix="Check the path, or choose another folder", path=path
            )
        if not path.is_dir():
            raise ModelFilesError(
                "The model path is a file, not a folder", fix="Choose the folder", path=path
            )
        return path
    return _resolve_repo(text, allow_download=allow_download, token=token)


def _resolve_repo(repo_id: str, *, allow_download: bool, token: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        if not allow_download:
            raise ModelAccessError(
                f"The model {repo_id} is not in the Hugging Face cache",
                fix=f"Download it first (the app's first-run dialog, or `hf download {repo_id}`), "
                "or pass a local folder with --model",
            ) from None
    try:
        return Path(snapshot_download(repo_id, token=token))
    except GatedRepoError:
        raise ModelAccessError(
            f"The model {repo_id} is gated: its licence must be accepted on the Hub",
            fix=f"Accept the licence at {licence_url(repo_id)}, then log in with `hf auth login` "
            "(or set HF_TOKEN) and try again",
        ) from None
    except RepositoryNotFoundError:
        raise ModelAccessError(
            f"The Hub has no model named {repo_id}, or it is private",
            fix="Check the name, or log in with a token that can read it",
        ) from None
    except OSError as error:
        raise ModelAccessError(
            f"Could not download {repo_id}: {error}",
            fix="Check the internet connection, or pass a local folder with --model",
        ) from None


def safetensors_truncated(path: Path) -> bool:
    """True when the file is shorter than its own header says (an interrupted download)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) < 8:
                return True
            (header_len,) = struct.unpack("<Q", raw)
            header = json.loads(handle.read(header_len))
    except (OSError, ValueError):
        return True
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    return path.stat().st_size < 8 + header_len + end


def check_checkpoint(folder: Path) -> None:
    """Raise ModelFilesError naming every missing or truncated file of the checkpoint."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError):
            raise ModelFilesError(
                "The weights index is unreadable", fix="Download the model again", path=index
            ) from None
    elif (folder / "model.safetensors").is_file():
        shards = ["model.safetensors"]
    else:
        shards = []
        missing.append("model.safetensors (or model.safetensors.index.json and its shards)")
    missing += [s for s in shards if not (folder / s).is_file()]
    truncated = [s for s in shards if (folder / s).is_file() and safetensors_truncated(folder / s)]
    if missing or truncated:
        details = []
        if missing:
            details.append("missing: " + ", ".join(missing))
        if truncated:
            details.append("incomplete: " + ", ".join(truncated))
        raise ModelFilesError(
            f"The model folder is not a complete checkpoint ({'; '.join(details)})",
            fix="Download the model again (an interrupted download resumes), or choose another folder",
            path=folder,
        )
    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except ValueError:
        raise ModelFilesError(
            "config.json is not valid JSON", fix="Download the model again", path=folder
        ) from None
    if model_type != "diffusion_gemma":
        raise ModelFilesError(
            f"This is not a DiffusionGemma checkpoint (model_type is {model_type!r})",
            fix="Choose a DiffusionGemma model folder",
            path=folder,
        )
