"""Quantization of trained networks: fake-quantized Conv2d / Linear at per-layer bit widths,
their exact size and BitOps, and the policies that choose the bits (a uniform width, or
HAQ's DDPG search under a size or BitOps limit).

``quantizable_layers`` lists what can be quantized; ``quantized_copy`` and
``apply_policy`` make the network fake-quantized at a policy; ``activation_stats``
calibrates the activations' clipping ranges.
"""

from __future__ import annotations

from nasengine.quantize.calibrate import ActivationStats, activation_stats, kl_threshold
from nasengine.quantize.fake import QuantConv2d, QuantLayer, QuantLinear, fake_quantize_weight
from nasengine.quantize.layers import (
    Policy,
    QuantizableLayer,
    QuantizeError,
    apply_policy,
    quantizable_layers,
    quantized_copy,
)
from nasengine.quantize.size import bitops, float_size_bits, quantized_size_bits, size_parts

__all__ = [
    "ActivationStats", "Policy", "QuantConv2d", "QuantLayer", "QuantLinear", "QuantizableLayer", "QuantizeError",
    "activation_stats", "apply_policy", "bitops", "fake_quantize_weight", "float_size_bits", "kl_threshold",
    "quantizable_layers", "quantized_copy", "quantized_size_bits", "size_parts",
]
