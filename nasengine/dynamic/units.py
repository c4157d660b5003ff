"""Units of the dynamic networks.

* Prunable units of runtime neural pruning: a VGG conv or a residual block whose output
  (VGG) or inner (ResNet) channels come in nested groups; action ``a`` keeps groups ``0..a``.
* Gated blocks of SkipNet / routing: a residual block with one or more paths.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.backbones import BlockSpec, ConvSpec, ResidualBody, Shortcut
from nasengine.dynamic.layers import ConvBN, conv_macs, nested_widths


class VGGUnit(nn.Module):
    """A 3x3 conv -> BN -> ReLU (-> 2x2 max pool) whose output width is chosen per sample."""

    #: The input width is the previous unit's choice, so costs depend on it.
    input_follows_previous = True

    def __init__(self, spec: ConvSpec, groups: int) -> None:
        super().__init__()
        self.spec = spec
        self.layer = ConvBN(spec.in_channels, spec.out_channels)
        self.widths = nested_widths(spec.out_channels, groups)
        self.register_buffer("width_values", torch.tensor(self.widths), persistent=False)

    def out_width(self, action: int) -> int:
        return self.widths[action]

    def masked(self, x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        y = self.layer.masked(x, self.width_values[actions])
        return F.max_pool2d(y, 2) if self.spec.pool else y

    def run(self, x: torch.Tensor, action: int) -> torch.Tensor:
        y = self.layer.run(x, self.widths[action])
        return F.max_pool2d(y, 2) if self.spec.pool else y

    def macs(self, in_width: int, action: int) -> int:
        return conv_macs(in_width, self.widths[action], 3, self.spec.in_size)

    def to_static(self, in_width: int, action: int, *, fold_bn: bool) -> nn.Module:
        layers = [self.layer.to_static(in_width, self.widths[action], fold_bn=fold_bn), nn.ReLU()]
        return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if self.spec.pool else []))


class ResidualUnit(nn.Module):
    """A basic block whose inner width (conv1's filters, conv2's inputs) is chosen per sample."""

    input_follows_previous = False

    def __init__(self, spec: BlockSpec, groups: int) -> None:
        super().__init__()
        self.spec = spec
        self.body = ResidualBody(spec, spec.out_channels)
        self.shortcut = Shortcut(spec)
        self.widths = nested_widths(spec.out_channels, groups)
        self.register_buffer("width_values", torch.tensor(self.widths), persistent=False)

    def out_width(self, action: int) -> int:
        return self.spec.out_channels

    def masked(self, x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        h = self.body.conv1.masked(x, self.width_values[actions])
        return F.relu(self.body.conv2(h, relu=False) + self.shortcut(x))

    def run(self, x: torch.Tensor, action: int) -> torch.Tensor:
        return run_block(self.body, self.shortcut, x, self.widths[action])

    def macs(self, in_width: int, action: int) -> int:
        return block_macs(self.spec, self.widths[action]) + self.shortcut.macs(self.spec)

    def to_static(self, in_width: int, action: int, *, fold_bn: bool) -> nn.Module:
        return StaticBlock(self.body, self.shortcut, self.widths[action], fold_bn=fold_bn)


def run_block(body: ResidualBody, shortcut: Shortcut, x: torch.Tensor, mid: int | None = None) -> torch.Tensor:
    """Inference of a basic block computing only ``mid`` inner channels."""
    h = body.conv1.run(x, mid)
    y = body.conv2.run(h, relu=False)
    return F.relu_(y.add_(shortcut.run(x)))


def block_macs(spec: BlockSpec, mid: int) -> int:
    return conv_macs(spec.in_channels, mid, 3, spec.out_size) + conv_macs(mid, spec.out_channels, 3, spec.out_size)


class StaticBlock(nn.Module):
    """A basic block rebuilt from plain ``Conv2d`` layers holding ``mid`` inner channels."""

    def __init__(self, body: ResidualBody, shortcut: Shortcut, mid: int, *, fold_bn: bool) -> None:
        super().__init__()
        self.conv1 = body.conv1.to_static(body.conv1.conv.in_channels, mid, fold_bn=fold_bn)
        self.conv2 = body.conv2.to_static(mid, body.conv2.out_channels, fold_bn=fold_bn)
        proj = shortcut.proj
        self.proj = None if proj is None else proj.to_static(proj.conv.in_channels, proj.out_channels, fold_bn=fold_bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + (x if self.proj is None else self.proj(x)))


class Stem(nn.Module):
    """The full-width first conv (its output feeds the first decision)."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool) -> None:
        super().__init__()
        self.layer = ConvBN(in_channels, out_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        return F.max_pool2d(y, 2) if self.pool else y

    def run(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer.run(x)
        return F.max_pool2d(y, 2) if self.pool else y

    def macs(self, size: int) -> int:
        conv = self.layer.conv
        return conv_macs(conv.in_channels, conv.out_channels, 3, size)

    def to_static(self, *, fold_bn: bool) -> nn.Module:
        conv = self.layer.conv
        layers = [self.layer.to_static(conv.in_channels, conv.out_channels, fold_bn=fold_bn), nn.ReLU()]
        return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if self.pool else []))


class GatedBlock(nn.Module):
    """A basic block with one or more paths; a path of width 0 returns its input."""

    def __init__(self, spec: BlockSpec, paths: Sequence[float]) -> None:
        super().__init__()
        self.spec, self.paths = spec, tuple(paths)
        self.shortcut = Shortcut(spec)
        self.mids = [max(1, round(f * spec.out_channels)) if f > 0 else 0 for f in self.paths]
        self.bodies = nn.ModuleList(ResidualBody(spec, m) for m in self.mids if m)
        self.body_of: list[int | None] = []  # path -> index into bodies (None: skip)
        count = 0
        for m in self.mids:
            self.body_of.append(count if m else None)
            count += 1 if m else 0

    @property
    def gated(self) -> bool:
        return len(self.paths) > 1

    def train_path(self, x: torch.Tensor, path: int) -> torch.Tensor:
        body = self.body_of[path]
        if body is None:
            return x
        b = self.bodies[body]
        return F.relu(b.conv2(b.conv1(x), relu=False) + self.shortcut(x))

    def run_path(self, x: torch.Tensor, path: int) -> torch.Tensor:
        body = self.body_of[path]
        return x if body is None else run_block(self.bodies[body], self.shortcut, x)

    def path_macs(self, path: int) -> int:
        mid = self.mids[path]
        return block_macs(self.spec, mid) + self.shortcut.macs(self.spec) if mid else 0

    def to_static(self, path: int, *, fold_bn: bool) -> nn.Module:
        body = self.body_of[path]
        if body is None:
            return nn.Identity()
        return StaticBlock(self.bodies[body], self.shortcut, self.mids[path], fold_bn=fold_bn)
