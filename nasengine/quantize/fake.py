"""Fake-quantized Conv2d and Linear: linear quantization at ``k`` bits in the forward pass,
straight-through gradients in the backward pass.

As HAQ's linear quantizer (Wang et al., CVPR 2019, Section 3.3): a layer's weights are
quantized symmetrically, ``w_q = s * clamp(round(w / s), -(2^(k-1) - 1), 2^(k-1) - 1)``,
and its input activations affinely, ``x_q = s_a * (clamp(round(x / s_a) + z, 0, 2^k - 1) - z)``
within a clipping range chosen on calibration data (``nasengine.quantize.calibrate``).
Unlike HAQ's code, which takes one weight range per layer, the weight scale ``s`` is per
output channel (``max |w_c| / (2^(k-1) - 1)``, recomputed from the current weights, so that
it follows them during quantization-aware fine-tuning): a channel of small weights then
keeps its resolution, which matters most at 2 to 4 bits.

Both use PyTorch's own kernels, ``torch.fake_quantize_per_channel_affine`` and
``torch.fake_quantize_per_tensor_affine``: they round half to even exactly as the int8
backends do, pass gradients straight through inside the clipping range and zero them
outside, and need no dependency beyond torch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MAX_BITS", "MIN_BITS", "QuantConv2d", "QuantLayer", "QuantLinear", "fake_quantize_weight", "weight_scales"]

MIN_BITS, MAX_BITS = 2, 16  # 1 bit has no symmetric grid with zero; policies use 2..8
_EPS = 1e-12  # the scale of an all-zero channel (any positive value keeps it at zero)


def _check_bits(name: str, bits: int | None) -> int | None:
    if bits is not None and not (isinstance(bits, int) and MIN_BITS <= bits <= MAX_BITS):
        raise ValueError(f"{name} must be an integer in [{MIN_BITS}, {MAX_BITS}] or None, got {bits!r}")
    return bits


def weight_scales(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel scales of symmetric ``bits``-bit quantization: ``max |w_c|`` maps
    to the largest level ``2^(bits-1) - 1``."""
    levels = 2 ** (bits - 1) - 1
    return weight.detach().abs().flatten(1).amax(dim=1).clamp_min(_EPS) / levels


def fake_quantize_weight(weight: torch.Tensor, bits: int, scales: torch.Tensor | None = None) -> torch.Tensor:
    """``weight`` quantized per output channel to ``bits`` bits (at most ``2^bits - 1``
    distinct values per channel), with straight-through gradients; ``scales`` default to
    :func:`weight_scales`."""
    levels = 2 ** (bits - 1) - 1
    scales = (weight_scales(weight, bits) if scales is None else scales).to(torch.float32)
    zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
    return torch.fake_quantize_per_channel_affine(weight, scales, zero, 0, -levels, levels)


class QuantLayer(nn.Module):
    """What the fake-quantized layers share: their bits and the activation's quantization
    parameters (buffers, so that they are saved with the weights).

    Attributes:
        w_bits: Bits of the weights (``None``: left in floating point).
        a_bits: Bits of the input activations (``None``: left in floating point).
    """

    w_bits: int | None
    a_bits: int | None
    act_scale: torch.Tensor
    act_zero_point: torch.Tensor
    weight_scale: torch.Tensor | None
    weight: nn.Parameter

    def _init_quant(self) -> None:
        self.w_bits = None
        self.a_bits = None
        self.register_buffer("act_scale", torch.tensor(1.0))
        self.register_buffer("act_zero_point", torch.tensor(0, dtype=torch.int32))
        self.register_buffer("weight_scale", None)  # set by freeze_weight_scale: then the scales stay fixed

    def freeze_weight_scale(self, scale: torch.Tensor) -> None:
        """Quantize the weights with these per-channel scales from now on (a network restored
        from its integer weights and scales computes exactly as the one that was exported)."""
        self.weight_scale = scale.detach().to(torch.float32).clone()

    def set_bits(self, w_bits: int | None, a_bits: int | None, act_range: tuple[float, float] | None = None) -> None:
        """Quantize weights to ``w_bits`` and inputs to ``a_bits`` within ``act_range``
        (``(low, high)``, containing 0; required when ``a_bits`` is set)."""
        self.w_bits = _check_bits("w_bits", w_bits)
        self.a_bits = _check_bits("a_bits", a_bits)
        if a_bits is None:
            return
        if act_range is None:
            raise ValueError("a_bits needs act_range, the (low, high) clipping range of the input")
        low, high = min(float(act_range[0]), 0.0), max(float(act_range[1]), 0.0)
        top = 2 ** a_bits - 1
        scale = max(high - low, _EPS) / top
        self.act_scale.fill_(scale)
        self.act_zero_point.fill_(int(min(max(round(-low / scale), 0), top)))

    def quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.a_bits is None:
            return x
        return torch.fake_quantize_per_tensor_affine(x, self.act_scale, self.act_zero_point, 0, 2 ** self.a_bits - 1)

    def quantized_weight(self) -> torch.Tensor:
        return self.weight if self.w_bits is None else fake_quantize_weight(self.weight, self.w_bits,
                                                                            self.weight_scale)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, w_bits={self.w_bits}, a_bits={self.a_bits}"


class QuantConv2d(QuantLayer, nn.Conv2d):
    """``nn.Conv2d`` with fake-quantized weights and input (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_quant()

    @classmethod
    def from_float(cls, conv: nn.Conv2d) -> QuantConv2d:
        """A copy of ``conv`` (its weights cloned), not yet quantized."""
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,  # type: ignore[arg-type]
                conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode,
                device=conv.weight.device, dtype=conv.weight.dtype)
        q.load_state_dict(conv.state_dict(), strict=False)
        return q.train(conv.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.quantized_input(x), self.quantized_weight(), self.bias)


class QuantLinear(QuantLayer, nn.Linear):
    """``nn.Linear`` with fake-quantized weights and input (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_quant()

    @classmethod
    def from_float(cls, linear: nn.Linear) -> QuantLinear:
        """A copy of ``linear`` (its weights cloned), not yet quantized."""
        q = cls(linear.in_features, linear.out_features, linear.bias is not None,
                device=linear.weight.device, dtype=linear.weight.dtype)
        q.load_state_dict(linear.state_dict(), strict=False)
        return q.train(linear.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.quantized_input(x), self.quantized_weight(), self.bias)
