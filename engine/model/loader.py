"""Find a checkpoint (local folder, Hugging Face cache, or the Hub) and load it.

Offline first: a repo id is looked up in the standard Hugging Face cache
before anything touches the network, so a downloaded model starts without a
connection.  Before transformers sees a folder, it is checked for the files a
DiffusionGemma checkpoint needs, so a missing or half-downloaded model gets a
message listing what is missing instead of a stack trace.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import DeviceError, ModelAccessError, ModelFilesError, OutOfMemoryError
from engine.events import LoadProgress
from engine.hub.names import licence_url
from engine.model.demo import DEMO

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_MODEL = "google/diffusiongemma-26B-A4B-it"

# Files every checkpoint needs besides its weights.
REQUIRED_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    device: torch.device
    dtype: torch.dtype


def choose_device(device: str | None = None, *, require_cuda: bool = False) -> DeviceChoice:
    """CUDA in bf16 when available, else CPU in fp32 (bf16 matmuls are slow on most CPUs)."""
    import torch

    wanted = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if (require_cuda or wanted.startswith("cuda")) and not torch.cuda.is_available():
        raise DeviceError(
            "No CUDA GPU is available to this program",
            fix="Install the CUDA build of PyTorch and an NVIDIA driver (see README), or use the demo "
            "model, which runs on the CPU",
        )
    dev = torch.device(wanted)
    return DeviceChoice(dev, torch.bfloat16 if dev.type == "cuda" else torch.float32)


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


def _safetensors_truncated(path: Path) -> bool:
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
    truncated = [s for s in shards if (folder / s).is_file() and _safetensors_truncated(folder / s)]
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


def is_quantized_checkpoint(folder: Path) -> bool:
    """A folder written by ``python -m engine quantize`` (or the quantized cache)."""
    from engine.model.quant.cache import MANIFEST

    return (folder / MANIFEST).is_file()


def load_model(
    folder: Path,
    choice: DeviceChoice,
    progress: Callable[[LoadProgress], None] | None = None,
    *,
    quantize: bool | None = None,
):
    """Load model and processor from a checked folder onto the chosen device.

    ``quantize=None`` means: 4-bit on CUDA (the 26B model only fits a consumer
    GPU that way; the first load streams the bf16 shards into a cached 4-bit
    copy, later loads read the cache), full precision on the CPU (the demo and
    test models are small, and bitsandbytes' CPU path is slow).  A folder that
    already is a quantized checkpoint is always loaded as one.
    """
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    from engine.inputs.processor import load_processor

    report = progress or (lambda _event: None)
    report(LoadProgress("processor", 0, 2, "Reading tokenizer and image processor"))
    try:
        processor = load_processor(str(folder))
    except (OSError, ValueError, KeyError) as error:
        log.exception("processor load failed")
        raise ModelFilesError(
            f"The tokenizer or processor files could not be read ({error})",
            fix="Download the model again",
            path=folder,
        ) from None
    report(LoadProgress("weights", 1, 2, "Loading weights"))
    if quantize is None:
        quantize = choice.device.type == "cuda"
    try:
        if is_quantized_checkpoint(folder) or quantize:
            from engine.model.quant.cache import load_or_quantize, load_quantized

            if is_quantized_checkpoint(folder):
                model = load_quantized(folder, device=choice.device, dtype=choice.dtype, progress=progress)
            else:
                model, _how = load_or_quantize(
                    folder, device=choice.device, dtype=choice.dtype, progress=progress
                )
            model.eval()
            if choice.device.type == "cuda":
                from engine.model.quant.experts_path import choose_experts_path

                report(LoadProgress("kernels", 1, 2, "Timing the 4-bit kernels on this GPU"))
                choose_experts_path(model, choice.device, choice.dtype)
            report(LoadProgress("ready", 2, 2, "Model ready"))
            return model, processor
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(
            str(folder),
            dtype=choice.dtype,
            device_map=str(choice.device) if choice.device.type == "cuda" else None,
        )
    except torch.OutOfMemoryError:
        _free_cuda()
        raise OutOfMemoryError(
            "The GPU does not have enough free memory to load this model",
            fix="Close other programs using the GPU, or use a quantized model",
        ) from None
    except (OSError, ValueError, RuntimeError) as error:
        log.exception("weights load failed")
        raise ModelFilesError(
            f"The weights could not be loaded ({str(error).splitlines()[0][:200]})",
            fix="Download the model again, or choose another folder",
            path=folder,
        ) from None
    model.eval()
    if choice.device.type != "cuda":
        model.to(choice.device)
    report(LoadProgress("ready", 2, 2, "Model ready"))
    return model, processor


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def preferred_model() -> str:
    """What to open when the user has not chosen a model: the real one if it can run, else the demo.

    The real model is chosen only when a CUDA GPU is visible and the checkpoint
    is completely in the Hugging Face cache (nothing is downloaded here);
    otherwise the bundled demo model, which runs on any CPU.
    """
    import torch

    if not torch.cuda.is_available():
        return DEMO
    try:
        check_checkpoint(resolve_source(DEFAULT_MODEL))
    except (ModelAccessError, ModelFilesError):
        return DEMO
    return DEFAULT_MODEL
