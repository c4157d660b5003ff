"""Exact model size and BitOps of a quantization policy.

The size counts every number the quantized network stores, at the width it is stored at:
a quantized layer's weights at its weight bits, plus one 32-bit float scale per output
channel, plus a 32-bit float scale and a 32-bit integer zero point for its input; every
other tensor of the state dict (biases, normalisation parameters and statistics, layers
that are not quantized) at its own dtype's width. The floating-point network's size is
its whole state dict at its own widths, so a size ratio compares like with like.

BitOps (HAQ and the bit-serial accelerators it targets) are a layer's MACs times its
weight bits times its activation bits, summed over the layers.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from nasengine.quantize.layers import Policy, QuantizableLayer

__all__ = ["SCALE_BITS", "bitops", "float_size_bits", "quantized_size_bits", "size_parts"]

SCALE_BITS = 32  #: a scale is a float32, a zero point an int32


def float_size_bits(model: nn.Module) -> int:
    """Bits of ``model``'s state dict, every tensor at its dtype's width."""
    return sum(t.numel() * t.element_size() * 8 for t in model.state_dict().values())


def size_parts(model: nn.Module, layers: Sequence[QuantizableLayer]) -> tuple[int, list[int]]:
    """``(fixed, weights)``: the size in bits of everything but the quantized weights,
    and each layer's weight count, so that a policy's size is
    ``fixed + sum(weights[k] * w_bits[k])``."""
    state = model.state_dict()
    # the float model's or a quantized copy's (whose quantization buffers are counted below)
    quantized = {f"{layer.name}.{key}" for layer in layers for key in ("weight", "weight_scale", "act_scale", "act_zero_point")}
    fixed = sum(t.numel() * t.element_size() * 8 for key, t in state.items() if key not in quantized)
    fixed += sum(SCALE_BITS * (layer.out_channels + 2) for layer in layers)
    return fixed, [layer.weights for layer in layers]


def quantized_size_bits(model: nn.Module, layers: Sequence[QuantizableLayer], policy: Policy) -> int:
    """Bits of ``model`` quantized with ``policy`` (see the module)."""
    if len(policy) != len(layers):
        raise ValueError(f"the policy has {len(policy)} entries; the model has {len(layers)} quantizable layers")
    fixed, weights = size_parts(model, layers)
    return fixed + sum(n * int(w) for n, (w, _) in zip(weights, policy))


def bitops(layers: Sequence[QuantizableLayer], policy: Policy) -> int:
    """``sum(macs * w_bits * a_bits)`` per image."""
    if len(policy) != len(layers):
        raise ValueError(f"the policy has {len(policy)} entries; the model has {len(layers)} quantizable layers")
    return sum(layer.macs * int(w) * int(a) for layer, (w, a) in zip(layers, policy))
