"""4-bit (NF4) quantization of DiffusionGemma that fits the 26B MoE model in 18 GiB of VRAM.

transformers' bitsandbytes integration only converts ``nn.Linear``; the MoE
experts (90 % of the weights) are fused 3-D parameters and would stay bf16.
This package quantizes each expert separately, shares one copy between the
tied encoder and decoder layers, streams a bf16 checkpoint straight into 4-bit,
and caches the result on disk.  See docs/quantization.md.
"""

from engine.model.quant.apply import (
    install_empty,
    quant_settings_of,
    quantize_model,
    quantized_modules,
    targets,
    tie_text_weights,
)
from engine.model.quant.modules import QuantExperts, QuantLinear
from engine.model.quant.packed import QuantizedWeight
from engine.model.quant.settings import FORMAT_VERSION, QuantSettings

__all__ = [
    "FORMAT_VERSION",
    "QuantExperts",
    "QuantLinear",
    "QuantSettings",
    "QuantizedWeight",
    "install_empty",
    "quant_settings_of",
    "quantize_model",
    "quantized_modules",
    "targets",
    "tie_text_weights",
]
