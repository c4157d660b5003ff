"""Plain (static) digits backbones that ``bench quantize`` quantizes: a VGG-style stack and a
CIFAR-style ResNet at 32x32, laid out as :mod:`nasengine.dynamic.backbones` plans them but
with ordinary Conv2d -> BN -> ReLU layers and nothing dynamic."""

from __future__ import annotations

import torch
from torch import nn

from nasengine.dynamic.backbones import BackboneConfig, BlockSpec, resnet_plan, vgg_plan
from nasengine.dynamic.layers import ConvBN

__all__ = ["QUANTIZE_WIDTHS", "plain_network"]

#: Stage widths of the benchmarked backbones: VGG-16's and ResNet-20's layouts, narrowed so
#: that a search of dozens of episodes and several seeds fits a CPU budget of minutes.
QUANTIZE_WIDTHS = {"vgg": (16, 32, 64, 64, 64), "resnet": (16, 32, 64)}


class _PlainVGG(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        plan = vgg_plan(cfg)
        self.convs = nn.ModuleList(ConvBN(s.in_channels, s.out_channels) for s in plan)
        self.pools = [s.pool for s in plan]
        self.fc = nn.Linear(plan[-1].out_channels, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, pool in zip(self.convs, self.pools):
            x = conv(x)
            if pool:
                x = nn.functional.max_pool2d(x, 2)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class _Block(nn.Module):
    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.conv1 = ConvBN(spec.in_channels, spec.out_channels, 3, spec.stride)
        self.conv2 = ConvBN(spec.out_channels, spec.out_channels, 3, 1)
        reshapes = spec.stride != 1 or spec.in_channels != spec.out_channels
        self.proj = ConvBN(spec.in_channels, spec.out_channels, 1, spec.stride) if reshapes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x, relu=False)
        return nn.functional.relu(self.conv2(self.conv1(x), relu=False) + shortcut)


class _PlainResNet(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.stem = ConvBN(cfg.in_channels, cfg.widths[0])
        self.blocks = nn.Sequential(*(_Block(s) for s in resnet_plan(cfg)))
        self.fc = nn.Linear(cfg.widths[-1], cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def plain_network(kind: str, *, widths: tuple[int, ...] | None = None, input_size: int = 32) -> nn.Module:
    """The ``vgg`` or ``resnet`` digits backbone (3 x ``input_size``^2 inputs, 10 classes)."""
    cfg = BackboneConfig.default(kind, in_channels=3, num_classes=10, input_size=input_size,
                                 widths=widths or QUANTIZE_WIDTHS[kind])
    return _PlainVGG(cfg) if kind == "vgg" else _PlainResNet(cfg)
