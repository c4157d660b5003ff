"""Building blocks of the Single Path One-Shot (SPOS) ShuffleNetV2 space.

Two block families, as in the official SPOS code (megvii-model/SinglePathOneShot):

* ``ShuffleBlock``: ShuffleNetV2 unit, main branch 1x1 -> depthwise kxk -> 1x1.
* ``XceptionBlock``: Shuffle-Xception unit, main branch three (depthwise 3x3 -> 1x1) pairs.

A stride-1 block splits its input channels by parity (the channel shuffle of the previous
block folded into the split), keeps the even half and runs the odd half through the main
branch. A stride-2 block feeds the whole input to both the main branch and a projection
branch (depthwise kxk stride 2 -> 1x1). Outputs are concatenated ``[projection, main]``.
Convolutions have no bias; every convolution but the depthwise ones is followed by ReLU
after its BatchNorm.

With ``widths`` (channel search) the mid-channel convolutions are elastic: the supernet
holds ``mid`` channels (the widest option) and runs the leading slice chosen by
``decision``. Without it they are ordinary layers of exactly ``mid`` channels.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from nasengine.head import ClassifierNet
from nasengine.nn import ElasticBatchNorm2d, ElasticConv2d


def split_channels(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Even and odd channels: the ShuffleNetV2 shuffle (2 groups) followed by the split."""
    return x[:, 0::2], x[:, 1::2]


class _MidLayers:
    """Creates the layers whose width is the block's mid-channel count (elastic or not)."""

    def __init__(self, *, affine: bool, decision: str | None, widths: Mapping[Any, int] | None):
        self.affine = affine
        self.decision = decision if widths else None
        self.widths = widths

    def conv(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, depthwise: bool = False,
             sets_width: bool = False) -> nn.Conv2d:
        kwargs = dict(stride=stride, padding=kernel // 2, groups=c_in if depthwise else 1, bias=False)
        if self.decision is None:
            return nn.Conv2d(c_in, c_out, kernel, **kwargs)
        if sets_width:  # this conv produces the mid channels: its output follows the decision
            return ElasticConv2d(c_in, c_out, kernel, decision=self.decision, widths=self.widths, **kwargs)
        return ElasticConv2d(c_in, c_out, kernel, **kwargs)  # only its input side is elastic

    def bn(self, channels: int) -> nn.BatchNorm2d:
        if self.decision is None:
            return nn.BatchNorm2d(channels, affine=self.affine)
        return ElasticBatchNorm2d(channels, affine=self.affine)


class _SPOSBlock(nn.Module):
    """Shared split / projection / concatenation logic of both block families."""

    branch_main: nn.Sequential  # set by the subclass

    def __init__(self, *, in_channels: int, out_channels: int, stride: int, proj_kernel: int, affine: bool) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        # Stride 1: half the input passes through untouched; stride 2: all of it is projected.
        self.main_in = in_channels // 2 if stride == 1 else in_channels
        self.main_out = out_channels - self.main_in
        if stride == 2:
            c = in_channels
            self.branch_proj = nn.Sequential(
                nn.Conv2d(c, c, proj_kernel, stride, proj_kernel // 2, groups=c, bias=False),
                nn.BatchNorm2d(c, affine=affine),
                nn.Conv2d(c, c, 1, bias=False),
                nn.BatchNorm2d(c, affine=affine),
                nn.ReLU(inplace=True),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x_proj, x_main = split_channels(x)
            return torch.cat((x_proj, self.branch_main(x_main)), 1)
        return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)


class ShuffleBlock(_SPOSBlock):
    """ShuffleNetV2 block with a ``kernel`` x ``kernel`` depthwise convolution.

    Args:
        in_channels: Channels entering the block (before the split of a stride-1 block).
        out_channels: Channels leaving the block.
        mid: Mid channels of the main branch (the maximum when elastic).
        kernel: 3, 5 or 7.
        stride: 1 or 2.
        affine: Learnable BatchNorm scale and shift.
        decision: Width decision followed by the mid layers (channel search only).
        widths: Option value -> mid channels; ``None`` or empty makes the block static.
    """

    def __init__(self, *, in_channels: int, out_channels: int, mid: int, kernel: int, stride: int,
                 affine: bool = True, decision: str | None = None, widths: Mapping[Any, int] | None = None) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, stride=stride,
                         proj_kernel=kernel, affine=affine)
        m = _MidLayers(affine=affine, decision=decision, widths=widths)
        self.branch_main = nn.Sequential(
            m.conv(self.main_in, mid, 1, sets_width=True),
            m.bn(mid),
            nn.ReLU(inplace=True),
            m.conv(mid, mid, kernel, stride=stride, depthwise=True),
            m.bn(mid),
            m.conv(mid, self.main_out, 1),
            nn.BatchNorm2d(self.main_out, affine=affine),
            nn.ReLU(inplace=True),
        )


class XceptionBlock(_SPOSBlock):
    """Shuffle-Xception block: three depthwise 3x3 / pointwise pairs; arguments as
    ``ShuffleBlock`` without ``kernel`` (always 3)."""

    def __init__(self, *, in_channels: int, out_channels: int, mid: int, stride: int, affine: bool = True,
                 decision: str | None = None, widths: Mapping[Any, int] | None = None) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, stride=stride,
                         proj_kernel=3, affine=affine)
        m = _MidLayers(affine=affine, decision=decision, widths=widths)
        c = self.main_in
        self.branch_main = nn.Sequential(
            nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False),
            nn.BatchNorm2d(c, affine=affine),
            m.conv(c, mid, 1, sets_width=True),
            m.bn(mid),
            nn.ReLU(inplace=True),
            m.conv(mid, mid, 3, depthwise=True),
            m.bn(mid),
            m.conv(mid, mid, 1, sets_width=True),
            m.bn(mid),
            nn.ReLU(inplace=True),
            m.conv(mid, mid, 3, depthwise=True),
            m.bn(mid),
            m.conv(mid, self.main_out, 1),
            nn.BatchNorm2d(self.main_out, affine=affine),
            nn.ReLU(inplace=True),
        )


#: Block option -> depthwise kernel of the main branch ("xception" stacks three 3x3).
BLOCK_KERNELS = {"k3": 3, "k5": 5, "k7": 7, "xception": 3}


def make_block(option: str, **kwargs: Any) -> nn.Module:
    """The block for one option of a ``block{i}`` decision (keyword arguments as the classes)."""
    if option == "xception":
        return XceptionBlock(**kwargs)
    return ShuffleBlock(kernel=BLOCK_KERNELS[option], **kwargs)


class SPOSNet(ClassifierNet):
    """Stem -> searchable layers -> 1x1 conv -> global average pool -> dropout -> linear
    (timm's classifier API: ``forward_features``, ``forward_head``, ``reset_classifier``).

    Args:
        stem: Stem layers (conv, BN, ReLU and the optional max-pool).
        layers: One ``ChoiceOp`` per searchable layer.
        head: The last 1x1 conv with its BN and ReLU.
        last_channels: Channels of ``head``'s output.
        num_classes: Classifier outputs.
        dropout: Dropout probability before the classifier.
    """

    def __init__(self, *, stem: nn.Sequential, layers: list[nn.Module], head: nn.Sequential,
                 last_channels: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.stem = stem
        self.features = nn.Sequential(*layers)
        self.conv_last = head
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last_channels, num_classes, bias=False)
        self.init_head()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_last(self.features(self.stem(x)))


@torch.no_grad()
def init_weights(net: nn.Module) -> None:
    """The official SPOS initialisation: stem conv N(0, 0.01), other convs N(0, 1/fan-in
    channels), BN scale 1 and shift 1e-4, classifier N(0, 0.01)."""
    for name, m in net.named_modules():
        if isinstance(m, nn.Conv2d):
            std = 0.01 if name.startswith("stem") else 1.0 / m.weight.shape[1]
            nn.init.normal_(m.weight, 0, std)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.constant_(m.bias, 1e-4)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
