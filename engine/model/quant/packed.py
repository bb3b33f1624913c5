"""Rows of 4-bit blockwise-quantized weights: one row per expert (or a single row for a Linear).

Storage layout (documented in docs/quantization.md), for R rows of a weight
of shape ``shape`` (``n`` values per row, ``nb = ceil(n / blocksize)`` blocks):

* ``packed``  uint8 ``[R, ceil(n / 2)]`` — two 4-bit codes per byte, bitsandbytes' order;
* ``absmax``  fp32 ``[R, nb]``, or with double quantization uint8 ``[R, nb]`` plus
  ``absmax2`` fp32 ``[R, ceil(nb / 256)]``, ``offset`` fp32 ``[R]`` and the
  8-bit dynamic code ``code2`` fp32 ``[256]``.

Each row is quantized on its own, so no block ever straddles two experts and
any run of rows can be dequantized alone: that is what lets the experts module
keep only one group of experts in 16/32-bit at a time.  Quantizing row by row is also what
makes streaming possible — an expert is quantized as soon as its slice is read.
The 4-bit kernels are bitsandbytes' (``quantize_4bit`` / ``dequantize_4bit``),
which run on CUDA and on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from engine.model.quant.settings import QuantSettings

NESTED_BLOCKSIZE = 256  # bitsandbytes' block size for the 8-bit absmax of double quantization


def _bnb():
    """bitsandbytes.functional, imported lazily: it prints backend probes on import."""
    import bitsandbytes.functional as bnb_functional

    return bnb_functional


class QuantizedWeight(nn.Module):
    """``rows`` independent 4-bit copies of a weight of shape ``shape`` (e.g. the experts of one layer)."""

    def __init__(
        self,
        rows: int,
        shape: Sequence[int],
        settings: QuantSettings,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.rows = int(rows)
        self.shape = tuple(int(s) for s in shape)
        self.numel_per_row = math.prod(self.shape)
        self.blocksize = settings.blocksize
        self.quant_type = settings.quant_type
        self.double_quant = settings.double_quant
        self.blocks = math.ceil(self.numel_per_row / self.blocksize)
        empty = {"device": device}
        self.register_buffer(
            "packed", torch.empty(self.rows, (self.numel_per_row + 1) // 2, dtype=torch.uint8, **empty)
        )
        if self.double_quant:
            nested_blocks = math.ceil(self.blocks / NESTED_BLOCKSIZE)
            self.register_buffer("absmax", torch.empty(self.rows, self.blocks, dtype=torch.uint8, **empty))
            self.register_buffer(
                "absmax2", torch.empty(self.rows, nested_blocks, dtype=torch.float32, **empty)
            )
            self.register_buffer("offset", torch.empty(self.rows, dtype=torch.float32, **empty))
            self.register_buffer("code2", torch.empty(256, dtype=torch.float32, **empty))
        else:
            self.register_buffer("absmax", torch.empty(self.rows, self.blocks, dtype=torch.float32, **empty))

    def extra_repr(self) -> str:
        dq = ", double_quant" if self.double_quant else ""
        return f"rows={self.rows}, shape={self.shape}, {self.quant_type}, blocksize={self.blocksize}{dq}"

    @property
    def device(self) -> torch.device:
        return self.packed.device

    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers())

    # -- writing ---------------------------------------------------------------------------------

    @torch.no_grad()
    def set_row(self, row: int, weight: torch.Tensor) -> None:
        """Quantize one dense row (``shape``, any float dtype, any device) into row ``row``.

        The dense row is moved to this module's device first, so quantization runs on
        the GPU when the buffers live there.
        """
        if tuple(weight.shape) != self.shape:
            raise ValueError(f"row of shape {tuple(weight.shape)} does not fit {self.shape}")
        functional = _bnb()
        dense = weight.to(self.device)
        if dense.dtype not in (torch.float16, torch.bfloat16, torch.float32):
            dense = dense.float()
        packed, state = functional.quantize_4bit(
            dense.contiguous(), blocksize=self.blocksize, quant_type=self.quant_type
        )
        self.packed[row].copy_(packed.view(-1))
        absmax = state.absmax.float()
        if not self.double_quant:
            self.absmax[row].copy_(absmax)
            return
        offset = absmax.mean()
        qabsmax, nested = functional.quantize_blockwise(absmax - offset, blocksize=NESTED_BLOCKSIZE)
        self.absmax[row].copy_(qabsmax.view(-1))
        self.absmax2[row].copy_(nested.absmax.view(-1))
        self.offset[row].copy_(offset)
        self.code2.copy_(nested.code)

    @torch.no_grad()
    def set_rows(self, weight: torch.Tensor) -> None:
        """Quantize every row of a dense ``[rows, *shape]`` tensor (or ``shape`` when rows == 1)."""
        if self.rows == 1 and tuple(weight.shape) == self.shape:
            weight = weight.unsqueeze(0)
        if weight.shape[0] != self.rows:
            raise ValueError(f"expected {self.rows} rows, got {weight.shape[0]}")
        for row in range(self.rows):
            self.set_row(row, weight[row])

    @classmethod
    def from_dense(
        cls, weight: torch.Tensor, settings: QuantSettings, *, rows: int | None = None, device=None
    ) -> QuantizedWeight:
        """Quantize a dense tensor: ``[R, *shape]`` with ``rows=R``, or a single 2-D weight."""
        if rows is None:
            rows, shape = 1, tuple(weight.shape)
        else:
            shape = tuple(weight.shape[1:])
        out = cls(rows, shape, settings, device=device if device is not None else weight.device)
        out.set_rows(weight)
        return out

    # -- reading ---------------------------------------------------------------------------------

    def scales(self, rows: slice | None = None) -> torch.Tensor:
        """The fp32 absmax of every block of ``rows`` (all rows by default), ``[R', nb]``.

        With double quantization this decodes the 8-bit scales for all the rows in a
        handful of kernels, once per forward, instead of once per expert.
        """
        rows = rows if rows is not None else slice(None)
        if not self.double_quant:
            return self.absmax[rows]
        codes = self.code2[self.absmax[rows].long()]
        per_block = self.absmax2[rows].repeat_interleave(NESTED_BLOCKSIZE, dim=1)[:, : self.blocks]
        return codes * per_block + self.offset[rows, None]

    def dequantize(self, row: int, dtype: torch.dtype, scales: torch.Tensor | None = None) -> torch.Tensor:
        """Row ``row`` as a dense ``shape`` tensor of ``dtype``; ``scales`` is its row of :meth:`scales`."""
        if scales is None:
            scales = self.scales(slice(row, row + 1))[0]
        return self._dequantize(self.packed[row], scales, self.shape, dtype)

    def dequantize_rows(
        self, start: int, stop: int, dtype: torch.dtype, scales: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Rows ``start:stop`` as one dense ``[stop - start, *shape]`` tensor (``scales``: theirs).

        When a row is a whole number of blocks (every expert of the real model),
        consecutive rows are one contiguous stream of codes and scales, so a
        single bitsandbytes call dequantizes them all: one kernel launch for a
        group of experts instead of one per expert.
        """
        if scales is None:
            scales = self.scales(slice(start, stop))
        if self.numel_per_row % self.blocksize:
            rows = range(start, stop)
            return torch.stack([self.dequantize(r, dtype, scales[i]) for i, r in enumerate(rows)])
        shape = (stop - start, *self.shape)
        return self._dequantize(self.packed[start:stop].view(-1), scales.reshape(-1), shape, dtype)

    def _dequantize(
        self, packed: torch.Tensor, scales: torch.Tensor, shape: Sequence[int], dtype: torch.dtype
    ) -> torch.Tensor:
        functional = _bnb()
        # A QuantState rather than ``out=``: the out-variant kernel is not registered for the CPU.
        state = functional.QuantState(
            absmax=scales.contiguous(),
            shape=torch.Size(shape),
            dtype=dtype,
            blocksize=self.blocksize,
            quant_type=self.quant_type,
        )
        return functional.dequantize_4bit(packed, state)

    def dequantize_all(self, dtype: torch.dtype) -> torch.Tensor:
        """Every row, ``[R, *shape]``: for tests and error analysis only (it defeats the point otherwise)."""
        scales = self.scales()
        return torch.stack([self.dequantize(r, dtype, scales[r]) for r in range(self.rows)])
