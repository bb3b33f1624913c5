"""A fused NF4 grouped matmul for the experts, in Triton: the 4-bit codes are dequantized in registers.

Why: dequantize-then-matmul writes every expert's weights to memory in bf16
and reads them back — 4.5 bytes of traffic per weight where reading the
4-bit codes once costs 0.5 — and it needs the group boundaries on the host (one
sync per layer).  This kernel reads the packed codes and the block scales of
``QuantizedWeight`` directly (the layout was chosen for it: one contiguous
row per expert, each a whole number of 64-value blocks) and multiplies them
into the routed rows of their expert, so a layer's experts cost two launches
and no host sync.

Layout it relies on (docs/quantization.md): the weight of expert ``e`` is
``[N, K]`` row-major; value ``f = n * K + k`` is nibble ``f % 2`` of byte
``f // 2`` of ``packed[e]`` (the even value in the high nibble, as
bitsandbytes packs); its scale is ``absmax[e, f // blocksize]``, with double
quantization ``code2[absmax[e, b]] * absmax2[e, b // 256] + offset[e]``.

One program computes a ``BLOCK_M × BLOCK_N`` tile of one expert's output.
The tile table (which expert, which first row) is built on the device from
the routing counts, sized by a bound known from the shapes alone, so nothing
waits for the GPU; programs past the last real tile return at once.

It runs where Triton compiles for the device (CUDA), and on the CPU through
Triton's interpreter (``TRITON_INTERPRET=1`` before Triton is first
imported), which is how the tests check its arithmetic.  On CUDA
:func:`fused_available` also runs a self-check against the dequantize-then-
matmul path once per process and falls back if the two disagree.
"""

from __future__ import annotations

import functools
import logging

import torch
import triton
import triton.language as tl

from engine.model.quant.grouped import grouped_linear
from engine.model.quant.packed import NESTED_BLOCKSIZE, QuantizedWeight
from engine.model.quant.settings import QuantSettings

log = logging.getLogger(__name__)

BLOCK_M = 16  # rows per tile: a canvas routes ~16 rows to each expert (256 tokens × 8 / 128)
BLOCK_N = 64


@triton.jit
def nf4_grouped_matmul(
    a_ptr,
    out_ptr,
    packed_ptr,
    scale_ptr,
    absmax2_ptr,
    offset_ptr,
    code2_ptr,
    code_ptr,
    tile_expert_ptr,
    tile_row_ptr,
    ends_ptr,
    n,
    k,
    stride_am,
    stride_om,
    nested_per_expert,
    DOUBLE_QUANT: tl.constexpr,
    NESTED: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    expert = tl.load(tile_expert_ptr + tl.program_id(0))
    if expert >= 0:
        row0 = tl.load(tile_row_ptr + tl.program_id(0))
        row_end = tl.load(ends_ptr + expert)
        rows = row0 + tl.arange(0, BLOCK_M)
        row_mask = rows < row_end
        cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
        col_mask = cols < n
        half = tl.arange(0, BLOCK_K // 2)
        blocks_per_row = k // BLOCK_K
        expert_bytes = expert.to(tl.int64) * (n * k // 2)
        expert_blocks = expert.to(tl.int64) * (n * blocks_per_row)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for kb in range(0, blocks_per_row):
            k0 = kb * BLOCK_K
            a_rows = a_ptr + rows[:, None].to(tl.int64) * stride_am + k0
            a_even = tl.load(a_rows + 2 * half[None, :], mask=row_mask[:, None], other=0.0)
            a_odd = tl.load(a_rows + 2 * half[None, :] + 1, mask=row_mask[:, None], other=0.0)
            byte_index = cols[:, None].to(tl.int64) * (k // 2) + (k0 // 2 + half)[None, :]
            codes = tl.load(packed_ptr + expert_bytes + byte_index, mask=col_mask[:, None], other=0)
            codes = codes.to(tl.int32)
            block = cols * blocks_per_row + kb
            if DOUBLE_QUANT:
                q = tl.load(scale_ptr + expert_blocks + block, mask=col_mask, other=0).to(tl.int32)
                nested = tl.load(absmax2_ptr + expert * nested_per_expert + block // NESTED, mask=col_mask)
                scale = tl.load(code2_ptr + q) * nested + tl.load(offset_ptr + expert)
            else:
                scale = tl.load(scale_ptr + expert_blocks + block, mask=col_mask, other=0.0)
            high = (tl.load(code_ptr + (codes >> 4)) * scale[:, None]).to(a_even.dtype)
            low = (tl.load(code_ptr + (codes & 15)) * scale[:, None]).to(a_even.dtype)
            acc += tl.dot(a_even, tl.trans(high))
            acc += tl.dot(a_odd, tl.trans(low))
        out = out_ptr + rows[:, None].to(tl.int64) * stride_om + cols[None, :]
        tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=row_mask[:, None] & col_mask[None, :])


def interpreting() -> bool:
    """Whether Triton was imported in interpreter mode (``TRITON_INTERPRET=1``): kernels run on the CPU."""
    return bool(triton.knobs.runtime.interpret)


@functools.cache
def _nf4_levels(device: torch.device) -> torch.Tensor:
    import bitsandbytes.functional as functional

    return functional.get_4bit_type("nf4", device="cpu").float().to(device)


def supports(weight: QuantizedWeight) -> bool:
    """Whether the kernel can read ``weight``: NF4, and rows that are whole blocks of an even size."""
    rows_k = weight.shape[-1]
    return weight.quant_type == "nf4" and rows_k % weight.blocksize == 0 and weight.blocksize % 2 == 0


def tile_table(per_expert: torch.Tensor, ends: torch.Tensor, pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(expert, first row) of every ``BLOCK_M``-row tile, on the device; -1 marks unused slots.

    The number of slots, ``ceil(pairs / BLOCK_M) + experts``, bounds the real
    tile count for any routing, so the launch grid is known without reading the
    counts back.
    """
    experts = per_expert.shape[0]
    slots = -(-pairs // BLOCK_M) + experts
    tiles = (per_expert + BLOCK_M - 1) // BLOCK_M
    tile_ends = torch.cumsum(tiles, dim=0)
    slot = torch.arange(slots, device=per_expert.device)
    expert = torch.searchsorted(tile_ends, slot, right=True)
    real = expert < experts
    safe = expert.clamp(max=experts - 1)
    first_tile = tile_ends[safe] - tiles[safe]
    first_row = (ends[safe] - per_expert[safe]) + (slot - first_tile) * BLOCK_M
    expert_ids = torch.where(real, safe, -1).to(torch.int32)
    return expert_ids, first_row.to(torch.int32)


def grouped_matmul(
    inputs: torch.Tensor,
    weight: QuantizedWeight,
    tiles: tuple[torch.Tensor, torch.Tensor],
    ends: torch.Tensor,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``linear(inputs[rows of e], dequantized weight e)`` for every expert, rows sorted by expert.

    ``inputs`` is ``[pairs, K]``; the result ``[pairs, N]`` in ``inputs``' dtype.
    Rows past the last expert's end are left as ``out`` had them (pass zeros
    when they are read later).
    """
    n, k = weight.shape
    pairs = inputs.shape[0]
    inputs = inputs.contiguous()
    if out is None:
        out = torch.empty((pairs, n), dtype=inputs.dtype, device=inputs.device)
    expert_ids, first_rows = tiles
    device = inputs.device
    double = weight.double_quant
    placeholder = weight.absmax  # unused pointers when there is no double quantization
    grid = (expert_ids.shape[0], -(-n // BLOCK_N))
    if device.type != "cuda" and not interpreting():
        raise RuntimeError("the fused 4-bit kernel runs on CUDA, or on the CPU under TRITON_INTERPRET=1")
    nf4_grouped_matmul[grid](
        inputs,
        out,
        weight.packed,
        weight.absmax,
        weight.absmax2 if double else placeholder,
        weight.offset if double else placeholder,
        weight.code2 if double else placeholder,
        _nf4_levels(device),
        expert_ids,
        first_rows,
        ends.to(torch.int32),
        n,
        k,
        inputs.stride(0),
        out.stride(0),
        weight.absmax2.shape[1] if double else 0,
        DOUBLE_QUANT=double,
        NESTED=NESTED_BLOCKSIZE,
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
        BLOCK_K=weight.blocksize,
    )
    return out


@functools.cache
def fused_available(device: torch.device) -> bool:
    """Whether the experts may use the kernel on ``device``: CUDA, Triton importable, self-check passed.

    The self-check multiplies a small random problem both ways; any compile
    error or disagreement is logged and the dequantize-then-matmul path stays.
    """
    if device.type != "cuda":
        return False
    try:
        agreement = self_check(device)
    except Exception:  # a compiler or driver problem must cost speed, never the reply
        log.warning("fused 4-bit experts kernel failed its self-check; using dequantize + matmul", exc_info=1)
        return False
    if agreement > 0.02:
        log.warning("fused 4-bit experts kernel disagrees (relative error %.3g); not used", agreement)
        return False
    log.info("fused 4-bit experts kernel enabled on %s (self-check error %.2g)", device, agreement)
    return True


@torch.no_grad()
def self_check(device: torch.device, dtype: torch.dtype | None = None) -> float:
    """Relative error of the kernel against dequantize + matmul on a random 4-expert problem."""
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    generator = torch.Generator(device="cpu").manual_seed(0)
    experts, n, k = 4, 96, 256
    weight = QuantizedWeight.from_dense(
        torch.randn(experts, n, k, generator=generator).to(device),
        QuantSettings(),
        rows=experts,
        device=device,
    )
    per_expert = torch.tensor([7, 0, 21, 12], device=device)
    ends = torch.cumsum(per_expert, 0)
    inputs = torch.randn(int(ends[-1]), k, generator=generator).to(device=device, dtype=dtype)
    got = grouped_matmul(inputs, weight, tile_table(per_expert, ends, inputs.shape[0]), ends).float()
    dense = weight.dequantize_rows(0, experts, dtype)
    expected = grouped_linear(inputs, dense, ends.to(torch.int32), per_expert.tolist()).float()
    return float((got - expected).norm() / expected.norm())
