"""A real int8 network from a fake-quantized one whose layers all have 8 bits, on PyTorch's
x86 quantized kernels (FBGEMM / oneDNN).

Each quantized layer becomes ``torch.ao.nn.quantized.Conv2d`` / ``Linear`` with the very
integer weights and per-channel scales of the fake-quantized layer, fed by its input
quantized to uint8 at the layer's calibrated scale and zero point; its int8 output is
requantized at a range observed on calibration data and turned back into floats for the
operations between layers (normalisation, pooling, residual sums run as before). The
layers are converted one by one in place, so any network that the fake-quantized one runs
(ours, torchvision, timm) converts without tracing; the price is a quantize and a
dequantize around each layer.
"""

from __future__ import annotations

import copy
import warnings
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from nasengine.quantize.fake import QuantConv2d, QuantLayer, weight_scales
from nasengine.quantize.hooks import observe
from nasengine.quantize.layers import QuantizeError

__all__ = ["Int8Layer", "int8_model", "output_ranges"]

# PyTorch 2.14 deprecates quantized tensors in favour of torchao's export-and-compile path;
# these eager kernels still run and need neither a compiler nor a trace. Said once, not per call.
warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")


class Int8Layer(nn.Module):
    """A quantized Conv2d / Linear between float tensors: quantize, int8 layer, dequantize."""

    def __init__(self, layer: nn.Module, scale: float, zero_point: int) -> None:
        super().__init__()
        self.layer = layer
        self.scale, self.zero_point = scale, zero_point

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x, self.scale, self.zero_point, torch.quint8)
        return self.layer(q).dequantize()


def _convert(module: QuantLayer, out_low: float, out_high: float) -> Int8Layer:
    if module.w_bits != 8 or module.a_bits != 8:
        raise QuantizeError(f"an int8 network needs 8-bit weights and activations in every layer; a layer has "
                            f"{module.w_bits}/{module.a_bits}")
    scales = module.weight_scale if module.weight_scale is not None else weight_scales(module.weight, 8)
    with torch.no_grad():
        weight = torch.quantize_per_channel(module.quantized_weight().float(), scales.double(),
                                            torch.zeros(len(scales), dtype=torch.int64), 0, torch.qint8)
    bias = None if module.bias is None else module.bias.detach().float()
    if isinstance(module, QuantConv2d):
        q: nn.Module = torch.ao.nn.quantized.Conv2d(
            module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,  # type: ignore[arg-type]
            module.dilation, module.groups, module.bias is not None, module.padding_mode)
    else:
        q = torch.ao.nn.quantized.Linear(module.in_features, module.out_features)  # type: ignore[attr-defined]
    q.set_weight_bias(weight, bias)  # type: ignore[operator]
    low, high = min(out_low, 0.0), max(out_high, 0.0)
    out_scale = max(high - low, 1e-8) / 255
    q.scale, q.zero_point = float(out_scale), int(min(max(round(-low / out_scale), 0), 255))
    return Int8Layer(q, float(module.act_scale), int(module.act_zero_point))


def output_ranges(model: nn.Module, layers: Sequence[str], batches: Iterable[torch.Tensor]) -> dict[str, list[float]]:
    """``[low, high]`` of each named layer's output over ``batches`` (eval mode, no gradients)."""
    modules = {name: model.get_submodule(name) for name in layers}
    ranges = {name: [float("inf"), float("-inf")] for name in layers}

    def watch(name: str):
        def hook(_m: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            seen = ranges[name]
            seen[0], seen[1] = min(seen[0], float(out.min())), max(seen[1], float(out.max()))
        return hook

    observe(model, {m: watch(n) for n, m in modules.items()}, batches)
    return ranges


def int8_model(model: nn.Module, ranges: Mapping[str, Sequence[float]]) -> nn.Module:
    """An int8 copy of ``model`` (fake-quantized, every layer named in ``ranges`` at 8 bits),
    each layer's output requantized over its ``[low, high]`` (:func:`output_ranges`); eval
    mode, CPU.

    Raises:
        QuantizeError: A layer has fewer than 8 bits, or the x86 kernels are missing.
    """
    if "x86" not in torch.backends.quantized.supported_engines:
        raise QuantizeError("this PyTorch build has no x86 quantized kernels")
    torch.backends.quantized.engine = "x86"
    model = copy.deepcopy(model).cpu().eval()
    for name, (low, high) in ranges.items():
        module = model.get_submodule(name)
        if not isinstance(module, QuantLayer):
            raise QuantizeError(f"layer {name!r} is not fake-quantizing")
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, _convert(module, low, high))
    return model
