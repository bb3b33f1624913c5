"""What gets quantized and how: one frozen value that also names the on-disk cache.

The defaults are the measured choice written up in ``docs/quantization.md``:
NF4 with 64-value blocks and double-quantized block scales for the MoE
experts, the attention projections and the dense MLP; everything whose error
would reach the logits or the routing directly (tied embeddings / LM head,
router, norms) or that is too small to matter (self-conditioning block,
vision tower) stays 16-bit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.errors import SettingsError

# Bump when the meaning or layout of the stored tensors changes; old caches then become stale.
FORMAT_VERSION = 1

VALID_BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True, slots=True)
class QuantSettings:
    """How to quantize a DiffusionGemma model.

    ``double_quant`` stores each block's absmax as 8 bits (blockwise over 256
    scales, one fp32 offset per expert) instead of fp32: 0.127 instead of 0.5
    bits per weight, about 1 GiB less on the real model for a ~0.2 % scale error.
    """

    quant_type: str = "nf4"
    blocksize: int = 64
    double_quant: bool = True
    experts: bool = True
    attention: bool = True
    dense_mlp: bool = True
    self_conditioning: bool = False
    vision: bool = False

    def validate(self) -> QuantSettings:
        if self.quant_type not in ("nf4", "fp4"):
            raise SettingsError(
                f"Quantization type {self.quant_type!r} is not supported", fix="Use nf4 or fp4"
            )
        if self.blocksize not in VALID_BLOCKSIZES:
            raise SettingsError(
                f"Quantization block size {self.blocksize} is not supported",
                fix="Use one of " + ", ".join(map(str, VALID_BLOCKSIZES)),
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}).validate()

    def digest(self) -> str:
        """A short stable name for these settings (part of the cache folder name)."""
        text = json.dumps({"format": FORMAT_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
