"""How many CPU threads torch computes with, and what else a seed needs to reproduce a reply.

Why a setting and not torch's default: torch takes every core, so when another
process takes one of two cores every parallel region waits for the busy one (a
62-step demo reply went from 2–4 s to 28–43 s; with one thread, 3.3–4.6 s).  The
window also needs a core of its own to stay smooth.  So the engine uses
``cores − 1`` threads (at least 1, at most :data:`MAX_AUTO_THREADS`) unless told
otherwise.

Why it matters for a seed: a sum over a whole large tensor is split between the
threads, and a different split rounds differently, so the thread count is part of
what a seed reproduces.  It is fixed by the setting (never by the load on the
machine), and the same setting on the same machine gives the same tokens.  On the
demo model and tiny checkpoints the per-step tensors are below torch's
parallel grain, and every thread count gives the same tokens (tests/engine/test_reproducible.py).

torch is imported inside the functions: the settings dialog reads
:func:`default_threads` on the GUI thread, which must never import torch.
"""

from __future__ import annotations

import logging
import os

from engine.errors import SettingsError

log = logging.getLogger(__name__)

# More threads than this gain nothing on the per-step tensors of a chat reply (one sequence,
# a 256-token canvas) and each one is another core a busy machine can make everyone wait for.
MAX_AUTO_THREADS = 8
MAX_THREADS = 256

# cuBLAS picks a reduction order per workspace; a fixed configuration makes its matmuls repeatable.
CUBLAS_WORKSPACE = ":4096:8"


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def default_threads(cores: int | None = None) -> int:
    """Leave the window a core: ``cores − 1``, at least 1, at most :data:`MAX_AUTO_THREADS`."""
    cores = available_cores() if cores is None else cores
    return max(1, min(MAX_AUTO_THREADS, cores - 1))


def resolve_threads(requested: int | None) -> int:
    """The thread count to use: ``requested``, or the machine's default for None or 0 ("automatic")."""
    if requested is None or requested == 0:
        return default_threads()
    if not 1 <= requested <= MAX_THREADS:
        raise SettingsError(
            f"Engine threads must be between 1 and {MAX_THREADS}, or 0 for automatic (got {requested})",
            fix=f"Use 0 to let the engine choose ({default_threads()} on this machine)",
        )
    return requested


def use_threads(requested: int | None = None) -> int:
    """Set torch's threads for the calling thread (call it on the engine thread); returns the count.

    torch keeps the intra-op count per calling thread under OpenMP, so this must run on the
    thread that generates.  Inter-op threads can only be set before torch's first parallel
    work; later calls keep the first value (they do not change any result, only scheduling).
    """
    import torch

    threads = resolve_threads(requested)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        kept = torch.get_num_interop_threads()
        log.debug("torch's inter-op threads were already started; kept at %d", kept)
    log.info("engine threads: %d (%s)", threads, "automatic" if not requested else "set")
    return threads


def make_reproducible(device_type: str) -> None:
    """Make GPU kernels repeatable where torch can: the same seed then gives the same tokens on CUDA.

    On the CPU nothing is needed beyond a fixed thread count.  On CUDA, cuBLAS gets a fixed
    workspace (it must be set before its first handle, so call this before the model moves to
    the GPU) and torch its deterministic algorithms; ops without one warn once instead of
    failing (``warn_only``), and uninitialised memory is not filled (we never read it, and
    filling costs a pass over every new tensor).
    """
    if device_type != "cuda" or os.environ.get("DGCHAT_DETERMINISTIC") == "0":
        return  # DGCHAT_DETERMINISTIC=0: torch's fastest kernels, for measuring what this costs
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = False
