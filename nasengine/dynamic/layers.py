"""Conv + BN layers that run on channel prefixes: masked in training, sliced at inference.

Training computes every channel and applies BN -> activation -> per-sample prefix mask in
one op (``prefix_epilogue``). Inference folds BN into the conv and runs only the kept
filters: ``weight[:out, :in]`` is a contiguous leading slice, so nothing is gathered and no
computed output is thrown away.

Inference runs channels-last (``INFERENCE_LAYOUT``): on CPUs oneDNN's NHWC convolutions
are 1.1-6x faster than NCHW at batch 1 on 32x32 inputs (most on the 2x2 maps of VGG's
last stage), and the dense baselines are timed in the faster of the two layouts.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.kernels import prefix_epilogue
from nasengine.utils.validation import positive_int

#: Memory format of feature maps and folded weights at inference.
INFERENCE_LAYOUT = torch.channels_last


def nested_widths(channels: int, groups: int) -> tuple[int, ...]:
    """Output widths of ``groups`` nested channel groups: ``(64, 4) -> (16, 32, 48, 64)``."""
    positive_int("groups", groups)
    if groups > channels:
        raise ValueError(f"cannot split {channels} channels into {groups} groups; use groups <= {channels}")
    return tuple(-(-channels * i // groups) for i in range(1, groups + 1))


def conv_macs(in_channels: int, out_channels: int, kernel: int, out_size: int) -> int:
    """Multiply-adds of one dense conv for one image (square output of side ``out_size``)."""
    return out_size * out_size * out_channels * in_channels * kernel * kernel


class ConvBN(nn.Module):
    """A bias-free conv followed by BatchNorm, with three ways to run it.

    * ``forward``: the ordinary dense conv -> BN (-> ReLU).
    * ``masked``: dense conv, then BN -> activation -> keep channels ``c < widths[n]``.
    * ``run``: inference with BN folded in, computing only ``out`` filters over the
      channels ``x`` has (``weight[:out, :x.shape[1]]``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self._folded: tuple[torch.Tensor, torch.Tensor] | None = None
        self._slices: dict[tuple[int | None, int], tuple[torch.Tensor, torch.Tensor]] = {}
        # Folded weights go stale when the weights change: loads and device moves clear them.
        self.register_load_state_dict_post_hook(lambda module, keys: module.clear_folded())

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return F.relu(y) if relu else y

    def masked(self, x: torch.Tensor, widths: torch.Tensor, relu: bool = True) -> torch.Tensor:
        """Dense conv, then BN (batch statistics in training) -> activation -> prefix mask."""
        bn = self.bn
        return prefix_epilogue(self.conv(x), widths, weight=bn.weight, bias=bn.bias, running_mean=bn.running_mean,
                               running_var=bn.running_var, training=self.training, momentum=self._momentum(),
                               eps=bn.eps, activation="relu" if relu else "none")

    def _momentum(self) -> float:
        # nn.BatchNorm2d's rule, including the cumulative average used by BN recalibration.
        bn = self.bn
        if not self.training:
            return 0.0
        bn.num_batches_tracked.add_(1)
        return 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv weight and bias with the inference BN folded in (cached)."""
        if self._folded is None:
            with torch.no_grad():
                bn = self.bn
                scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
                weight = (self.conv.weight * scale.view(-1, 1, 1, 1)).contiguous()
                self._folded = (weight, bn.bias - bn.running_mean * scale)
        return self._folded

    def run(self, x: torch.Tensor, out: int | None = None, relu: bool = True) -> torch.Tensor:
        """Inference on the first ``out`` filters (all by default) over ``x``'s channels."""
        x = x.contiguous(memory_format=INFERENCE_LAYOUT)  # a no-op unless a batch was re-sliced
        key = (out, x.shape[1])
        sliced = self._slices.get(key)
        if sliced is None:
            sliced = self._slices[key] = self._slice(out, x.shape[1])
        conv = self.conv
        y = F.conv2d(x, sliced[0], sliced[1], conv.stride, conv.padding)
        return F.relu_(y) if relu else y

    def _slice(self, out: int | None, in_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        # ``weight[:out, :in]`` is strided when ``in`` is short; a contiguous copy, made once
        # per (out, in) pair actually used, saves the conv a copy on every call.
        weight, bias = self.folded()
        if out is not None:
            weight, bias = weight[:out], bias[:out]
        return weight[:, :in_channels].contiguous(memory_format=INFERENCE_LAYOUT), bias

    def clear_folded(self) -> None:
        self._folded = None
        self._slices = {}

    def train(self, mode: bool = True) -> ConvBN:
        self.clear_folded()
        return super().train(mode)

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> ConvBN:
        self.clear_folded()
        return super()._apply(fn, *args, **kwargs)

    def to_static(self, in_channels: int, out_channels: int, *, fold_bn: bool) -> nn.Module:
        """A plain ``Conv2d`` (+ ``BatchNorm2d``) holding this layer's leading slice."""
        conv = self.conv
        static = nn.Conv2d(in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding, bias=fold_bn)
        with torch.no_grad():
            if fold_bn:
                weight, bias = self.folded()
                static.weight.copy_(weight[:out_channels, :in_channels])
                static.bias.copy_(bias[:out_channels])
                return static
            static.weight.copy_(conv.weight[:out_channels, :in_channels])
            bn = nn.BatchNorm2d(out_channels, eps=self.bn.eps)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(getattr(self.bn, name)[:out_channels])
        return nn.Sequential(static, bn)
