"""Residual backbones with searched widths: ResNet-50 (He et al. 2016, torchvision layout)
and the compact ``small`` net (3x3 stem and basic blocks, for 8x8 to 32x32 inputs).

Decisions follow MetaPruning's ResNet encoding: ``stem`` (conv1), one output width per
stage ``layer{s}_out`` shared by all blocks of the stage (the residual adds need equal
widths; the first block's projection shortcut maps any input width), and one inner width
per block ``layer{s}_{j}_mid`` setting both conv1 and conv2 outputs (in a bottleneck
conv2 maps mid to mid, so one decision, as MetaPruning's "mid channel").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nasengine.head import ClassifierNet
from nasengine.nn import ElasticLinear, conv_out_size
from search_spaces.channel_width.common import (
    CLASSES,
    INPUT,
    Resolver,
    Slot,
    Term,
    bn,
    conv,
    conv_terms,
    linear_terms,
)

#: ResNet-50: (inner width, output width, blocks, stride) per stage; stem 64.
RESNET50_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (64, 256, 3, 1),
    (128, 512, 4, 2),
    (256, 1024, 6, 2),
    (512, 2048, 3, 2),
)


@dataclass(frozen=True)
class ResBlock:
    """One residual block: slot names of its widths, stride, projection shortcut, and the
    kernel of each 3x3 conv (3, or the name of its kernel decision)."""

    stage: int
    index: int
    cin: str
    mid: str
    cout: str
    stride: int
    downsample: bool
    kernels: tuple[int | str, ...] = (3, 3)


def layout(
    *, stem: int, stages: tuple[tuple[int, int, int, int], ...], search_last: bool,
    search_kernels: bool = False, bottleneck: bool = False,
) -> tuple[list[Slot], list[ResBlock], list[str]]:
    """Width slots (in decision order), blocks and kernel decisions of a residual net.

    With ``search_kernels`` every 3x3 conv of a block (a basic block's two, a bottleneck's
    one) gets a kernel decision ``layer{s}_{j}_conv{n}_kernel``.
    """
    slots = [Slot("stem", stem)]
    blocks: list[ResBlock] = []
    kernel_slots: list[str] = []
    cin = "stem"
    for s, (mid, out, repeats, stride) in enumerate(stages, 1):
        cout = f"layer{s}_out"
        for j in range(repeats):
            slots.append(Slot(f"layer{s}_{j}_mid", mid))
            convs = (2,) if bottleneck else (1, 2)
            kernels: tuple[int | str, ...] = (3,) * len(convs)
            if search_kernels:
                kernels = tuple(f"layer{s}_{j}_conv{n}_kernel" for n in convs)
            kernel_slots += [k for k in kernels if isinstance(k, str)]
            blocks.append(ResBlock(s, j, cin, f"layer{s}_{j}_mid", cout, stride if j == 0 else 1, j == 0, kernels))
            cin = cout
        slots.append(Slot(cout, out, search_last or s < len(stages)))
    return slots, blocks, kernel_slots


def small_stages(widths: tuple[int, ...], repeats: tuple[int, ...]) -> tuple[tuple[int, int, int, int], ...]:
    """Stages of the small net: basic blocks whose inner width equals the stage width;
    the first stage keeps the resolution, later ones halve it."""
    return tuple((w, w, n, 1 if s == 0 else 2) for s, (w, n) in enumerate(zip(widths, repeats)))


def terms(blocks: list[ResBlock], input_size: int, *, bottleneck: bool) -> list[Term]:
    """Cost terms of every Conv2d, BatchNorm and the classifier."""
    if bottleneck:  # 7x7 stride-2 stem, then 3x3 stride-2 max-pool
        hw = conv_out_size(input_size, 7, 2, 3)
        out = conv_terms(INPUT, "stem", 7, hw)
        hw = conv_out_size(hw, 3, 2, 1)
    else:
        hw = input_size
        out = conv_terms(INPUT, "stem", 3, hw)
    for b in blocks:
        hw_out = conv_out_size(hw, 3, b.stride, 1)
        if bottleneck:
            out += conv_terms(b.cin, b.mid, 1, hw)
            out += conv_terms(b.mid, b.mid, b.kernels[0], hw_out)
            out += conv_terms(b.mid, b.cout, 1, hw_out)
        else:
            out += conv_terms(b.cin, b.mid, b.kernels[0], hw_out)
            out += conv_terms(b.mid, b.cout, b.kernels[1], hw_out)
        if b.downsample:
            out += conv_terms(b.cin, b.cout, 1, hw_out)
        hw = hw_out
    return out + linear_terms(blocks[-1].cout, CLASSES)


class Block(nn.Module):
    """torchvision's ``Bottleneck`` (1x1, 3x3 with the stride, 1x1) or ``BasicBlock``
    (3x3 with the stride, 3x3), attribute names included; ``downsample`` is a 1x1 conv + BN."""

    def __init__(self, block: ResBlock, width: Resolver, *, bottleneck: bool) -> None:
        super().__init__()
        cin, mid, cout = width(block.cin), width(block.mid), width(block.cout)
        k = [width(n) if isinstance(n, str) else n for n in block.kernels]
        if bottleneck:
            self.conv1, self.bn1 = conv(cin, mid, 1), bn(mid)
            self.conv2, self.bn2 = conv(mid, mid, k[0], block.stride), bn(mid)
            self.conv3, self.bn3 = conv(mid, cout, 1), bn(cout)
        else:
            self.conv1, self.bn1 = conv(cin, mid, k[0], block.stride), bn(mid)
            self.conv2, self.bn2 = conv(mid, cout, k[1]), bn(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(conv(cin, cout, 1, block.stride), bn(cout)) if block.downsample else None
        self.bottleneck = bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.bottleneck:
            out = self.bn3(self.conv3(self.relu(out)))
        return self.relu(out + identity)


class ResNetNet(ClassifierNet):
    """ResNet with keys ``conv1``, ``bn1``, ``layer{s}.{j}.*``, ``fc`` as in torchvision, and
    timm's classifier API (``forward_features``, ``forward_head``, ``reset_classifier``).

    Args:
        blocks: From ``layout``.
        width: Sizes every slot (the supernet's maximum or one architecture's widths).
        bottleneck: ResNet-50 (7x7 stride-2 stem, max-pool, bottlenecks) or the small net
            (3x3 stride-1 stem, no pool, basic blocks).
    """

    classifier_path: ClassVar[str] = "fc"
    dropout_path: ClassVar[str | None] = None  # torchvision's ResNet has none

    def __init__(self, blocks: list[ResBlock], width: Resolver, *, bottleneck: bool) -> None:
        super().__init__()
        k, stride = (7, 2) if bottleneck else (3, 1)
        self.conv1, self.bn1 = conv(width(INPUT), width("stem"), k, stride), bn(width("stem"))
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if bottleneck else nn.Identity()
        self.stages: list[str] = []
        for s in sorted({b.stage for b in blocks}):
            layer = nn.Sequential(*(Block(b, width, bottleneck=bottleneck) for b in blocks if b.stage == s))
            self.add_module(f"layer{s}", layer)
            self.stages.append(f"layer{s}")
        self.fc = ElasticLinear(width(blocks[-1].cout).channels, width(CLASSES).channels)
        self.init_head()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.stages:
            x = getattr(self, name)(x)
        return x
