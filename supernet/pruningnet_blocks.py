"""Layers of a MetaPruning PruningNet: convolutions whose weights are generated from the
width encoding, and BatchNorm with one set of statistics per width.

A ``GeneratedConv2d`` owns no conv weight. A small fully connected block (FC, ReLU, FC)
maps the encoding of the layer's input and output widths (channels over the widest
option, both in (0, 1]) to the full-size weight tensor, of which the leading slice
``[:out, :in]`` is the chosen network's weight (Liu et al., MetaPruning, ICCV 2019).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.nn import option_key


class GeneratedConv2d(nn.Module):
    """A bias-free conv whose weight is generated, then cropped to the active widths.

    Args:
        in_channels, out_channels: Widest input / output channels (the generated tensor).
        kernel_size, stride, padding: As ``nn.Conv2d`` (square kernels).
        depthwise: One filter per input channel (output width follows the input).
        hidden: Width of the generator's hidden layer.
        decision: Decision that sets the output width ("" for a fixed output width).
        widths: Option key of ``decision`` -> output channels.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0, *,
                 depthwise: bool = False, hidden: int = 32, decision: str = "",
                 widths: Mapping[str, int] | None = None) -> None:
        super().__init__()
        if depthwise and in_channels != out_channels:
            raise ValueError(f"a depthwise conv maps a width to itself, got {in_channels} -> {out_channels}")
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.depthwise = depthwise
        self.decision = decision
        self.widths = dict(widths or {})
        self.active_out = out_channels
        self.shape = (out_channels, 1 if depthwise else in_channels, kernel_size, kernel_size)
        self.fc1 = nn.Linear(2, hidden)
        self.fc2 = nn.Linear(hidden, math.prod(self.shape))
        self.reset_generator()

    @torch.no_grad()
    def reset_generator(self) -> None:
        """Start as a He-initialised conv (the output bias) plus an encoding-dependent term
        of about a third of its size, so every width begins with well-scaled weights."""
        fan_out = self.shape[0] * self.shape[2] * self.shape[3]
        std = math.sqrt(2.0 / fan_out)
        self.fc2.bias.normal_(0.0, std)
        self.fc2.weight.normal_(0.0, std / math.sqrt(self.fc2.in_features))

    def select(self, value: Any) -> None:
        """Set the output width to the channels of option ``value`` of ``decision``."""
        key = option_key(value)
        if key not in self.widths:
            raise KeyError(f"{self.decision!r}: option {value!r} is not one of {list(self.widths)}")
        self.active_out = self.widths[key]

    def encoding(self, c_in: int, c_out: int) -> torch.Tensor:
        """The generator's input: input and output widths over the widest ones."""
        return torch.tensor([c_in / self.in_channels, c_out / self.out_channels],
                            dtype=self.fc1.weight.dtype, device=self.fc1.weight.device)

    def full_weight(self, c_in: int, c_out: int) -> torch.Tensor:
        """The full-size generated tensor for these widths (before cropping)."""
        hidden = F.relu(self.fc1(self.encoding(c_in, c_out)))
        return self.fc2(hidden).view(self.shape)

    def weight_for(self, c_in: int, c_out: int) -> torch.Tensor:
        """The weight of the conv from ``c_in`` to ``c_out`` channels: the leading slice."""
        if self.depthwise:
            c_out = c_in
        if not (0 < c_in <= self.in_channels and 0 < c_out <= self.out_channels):
            raise ValueError(f"widths {c_in} -> {c_out} exceed the generated {self.in_channels} -> {self.out_channels}")
        weight = self.full_weight(c_in, c_out)
        return weight[:c_out] if self.depthwise else weight[:c_out, :c_in]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c_in = x.shape[1]
        weight = self.weight_for(c_in, self.active_out)
        groups = c_in if self.depthwise else 1
        return F.conv2d(x, weight, None, self.stride, self.padding, 1, groups)

    def extra_repr(self) -> str:
        kind = ", depthwise" if self.depthwise else ""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
                f"{kind}, decision={self.decision!r}, active_out={self.active_out}")


class ChoiceBatchNorm2d(nn.Module):
    """One ``BatchNorm2d`` per channel count a layer can have; the input picks its own.

    Statistics of a layer differ with its width, so MetaPruning keeps them apart. Width
    options that round to the same channel count give the same layer and share one.

    Args:
        channels: The channel counts this layer can have.
    """

    def __init__(self, channels: Iterable[int]) -> None:
        super().__init__()
        counts = sorted({int(c) for c in channels})
        if not counts or counts[0] < 1:
            raise ValueError(f"channels must be positive channel counts, got {list(channels)}")
        self.channels = tuple(counts)
        self.num_features = counts[-1]
        self.norms = nn.ModuleDict({str(c): nn.BatchNorm2d(c) for c in counts})

    def norm_for(self, channels: int) -> nn.BatchNorm2d:
        """The BatchNorm used at ``channels`` channels."""
        key = str(channels)
        if key not in self.norms:
            raise KeyError(f"no BatchNorm for {channels} channels; this layer has {list(self.channels)}")
        return self.norms[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm_for(x.shape[1])(x)

    def extra_repr(self) -> str:
        return f"channels={list(self.channels)}"
