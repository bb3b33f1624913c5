"""Peak memory of a benchmark run, phase by phase: traced op by op on a CPU, the allocator's on CUDA.

On a CPU nothing counts allocations, so :class:`AllocationTracker` registers
every op's outputs by storage and drops them when they are freed: the peak of
live tensor storage, the same quantity CUDA's ``max_memory_allocated`` reports
(kernels' internal scratch, allocator fragmentation and CUDA workspaces are
not seen).  :class:`PhaseMemory` splits a run into named phases — encoding
the prompt, the denoising steps — so each can be set beside the planner's
prediction for it.
"""

from __future__ import annotations

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class AllocationTracker(TorchDispatchMode):
    """Peak bytes of tensor storage allocated (and still alive) inside the ``with`` block.

    Every op's outputs are registered by storage; a storage leaves the count
    when it is freed.  Views and in-place results share a storage and count
    once; an output that aliases one of the op's inputs allocated nothing, so
    a view of a tensor made before the block (a weight's transpose, an
    in-place update of an input) is not counted.  Works on any device; on
    CUDA prefer the allocator's own statistics.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.peak = 0

    def reset_peak(self) -> None:
        """Count the peak afresh from what is alive now (as ``torch.cuda.reset_peak_memory_stats``)."""
        self._sweep()
        self.peak = self.current

    def _sweep(self) -> None:
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._sweep()
        inputs = {
            t.untyped_storage()._cdata
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor) and t.device.type != "meta"
        }
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
                storage = tensor.untyped_storage()
                key = storage._cdata
                if key not in self.live and key not in inputs:
                    self.live[key] = (StorageWeakRef(storage), storage.nbytes())
                    self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        return out


class PhaseMemory:
    """The peak bytes allocated in each phase of a run, weights and other tensors made before it excluded.

    ``start(name)`` closes the running phase and opens the next.  On a CPU the
    peaks are traced (:class:`AllocationTracker`, which slows the run); on
    CUDA they come from the allocator's statistics, measured above what was
    allocated when the run began, so both count the same thing.  ``reserved``
    is CUDA's peak reserved memory over the whole run (None on a CPU).
    """

    def __init__(self, device: torch.device, *, trace_cpu: bool = True) -> None:
        self.device = device
        self.peaks: dict[str, int] = {}
        self.reserved: int | None = None
        self._tracker = AllocationTracker() if device.type != "cuda" and trace_cpu else None
        self._phase: str | None = None
        self.base = 0  # CUDA: bytes allocated when the run began

    @property
    def measured(self) -> bool:
        return self.device.type == "cuda" or self._tracker is not None

    def __enter__(self) -> PhaseMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            self.reserved = 0
        elif self._tracker is not None:
            self._tracker.__enter__()
        return self

    def start(self, name: str) -> None:
        self._close()
        self._phase = name
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self._tracker is not None:
            self._tracker.reset_peak()

    def _close(self) -> None:
        """Record the running phase's peak, from the allocator or the trace."""
        if self._phase is None or not self.measured:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) - self.base
            self.reserved = max(self.reserved or 0, torch.cuda.max_memory_reserved(self.device))
        else:
            peak = self._tracker.peak
        self.peaks[self._phase] = max(self.peaks.get(self._phase, 0), peak)

    def __exit__(self, *exc) -> None:
        self._close()
        self._phase = None
        if self._tracker is not None:
            self._tracker.__exit__(*exc)

    @property
    def peak(self) -> int | None:
        """The peak over every phase, or None when nothing was measured."""
        return max(self.peaks.values(), default=0) if self.measured else None
