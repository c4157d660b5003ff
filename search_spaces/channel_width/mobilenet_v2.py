"""MobileNetV2 (Sandler et al. 2018) in torchvision's module layout, with searched widths.

Decisions follow MetaPruning's MobileNetV2 encoding: ``stem`` (32), one output width per
stage ``stage{s}_out`` shared by all blocks of the stage (their residual adds need equal
widths), one expanded width per block ``block{i}_hidden`` (``6 * input``; ``i`` is the
torchvision ``features`` index), and ``last`` (1280). The first block (expansion 1) has no
expand conv: its depthwise conv runs at the stem width, so it has no hidden decision.
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
    Width,
    bn,
    conv,
    conv_terms,
    linear_terms,
)

#: torchvision's inverted-residual settings: expansion t, channels c, repeats n, stride s.
SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_WIDTH, LAST_WIDTH = 32, 1280


@dataclass(frozen=True)
class IRBlock:
    """One inverted-residual block: slot names of its widths and its shape."""

    index: int
    cin: str
    hidden: str
    cout: str
    stride: int
    expand: bool
    residual: bool


def layout(*, search_last: bool) -> tuple[list[Slot], list[IRBlock]]:
    """Width slots (in decision order) and blocks of MobileNetV2."""
    slots = [Slot("stem", STEM_WIDTH)]
    blocks: list[IRBlock] = []
    cin, base_in, index = "stem", STEM_WIDTH, 1
    for stage, (t, c, n, s) in enumerate(SETTINGS, 1):
        cout = f"stage{stage}_out"
        for j in range(n):
            hidden = cin if t == 1 else f"block{index}_hidden"
            if t != 1:
                slots.append(Slot(hidden, base_in * t))
            blocks.append(IRBlock(index, cin, hidden, cout, s if j == 0 else 1, t != 1, j > 0))
            cin, base_in, index = cout, c, index + 1
        slots.append(Slot(cout, c))
    slots.append(Slot("last", LAST_WIDTH, search_last))
    return slots, blocks


def terms(blocks: list[IRBlock], input_size: int) -> list[Term]:
    """Cost terms of every Conv2d, BatchNorm and the classifier."""
    hw = conv_out_size(input_size, 3, 2, 1)
    out = conv_terms(INPUT, "stem", 3, hw)
    for b in blocks:
        hw_out = conv_out_size(hw, 3, b.stride, 1)
        if b.expand:
            out += conv_terms(b.cin, b.hidden, 1, hw)
        out += conv_terms(b.hidden, b.hidden, 3, hw_out, depthwise=True)
        out += conv_terms(b.hidden, b.cout, 1, hw_out)
        hw = hw_out
    out += conv_terms(blocks[-1].cout, "last", 1, hw)
    return out + linear_terms("last", CLASSES)


class ConvBNAct(nn.Sequential):
    """conv, BN, ReLU6 as indices 0, 1, 2 (torchvision's ``Conv2dNormActivation``)."""

    def __init__(self, cin: Width, cout: Width, k: int, stride: int = 1, *, depthwise: bool = False) -> None:
        super().__init__(
            conv(cin, cout, k, stride, depthwise=depthwise), bn(cin if depthwise else cout), nn.ReLU6(inplace=True)
        )


class InvertedResidual(nn.Module):
    """Expand 1x1 (if any), depthwise 3x3, project 1x1 + BN, identity add inside a stage."""

    def __init__(self, block: IRBlock, width: Resolver) -> None:
        super().__init__()
        hidden, cout = width(block.hidden), width(block.cout)
        layers: list[nn.Module] = [ConvBNAct(width(block.cin), hidden, 1)] if block.expand else []
        layers += [ConvBNAct(hidden, hidden, 3, block.stride, depthwise=True), conv(hidden, cout, 1), bn(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = block.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


class MobileNetV2Net(ClassifierNet):
    """MobileNetV2 with keys ``features.*`` and ``classifier.1.*`` as in torchvision, and
    timm's classifier API (``forward_features``, ``forward_head``, ``reset_classifier``).

    Args:
        blocks: From ``layout``.
        width: Sizes every slot (the supernet's maximum or one architecture's widths).
        dropout: Before the classifier (0.2 as torchvision).
    """

    classifier_path: ClassVar[str] = "classifier.1"
    dropout_path: ClassVar[str | None] = "classifier.0"

    def __init__(self, blocks: list[IRBlock], width: Resolver, *, dropout: float = 0.2) -> None:
        super().__init__()
        features: list[nn.Module] = [ConvBNAct(width(INPUT), width("stem"), 3, 2)]
        features += [InvertedResidual(b, width) for b in blocks]
        features.append(ConvBNAct(width(blocks[-1].cout), width("last"), 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), ElasticLinear(width("last").channels, width(CLASSES).channels)
        )
        self.init_head()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
