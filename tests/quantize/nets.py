"""Small networks and data for the quantization tests."""

from __future__ import annotations

import torch
from torch import nn

SHAPE = (1, 8, 8)


def tiny_net(seed: int = 0) -> nn.Module:
    """A plain conv, a depthwise conv, a pointwise conv and a classifier, with BN statistics set."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 16, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def batches(count: int = 2, size: int = 16, seed: int = 1) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(size, *SHAPE, generator=generator) for _ in range(count)]
