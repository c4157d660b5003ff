"""Backbone CNNs of the dynamic networks: VGG-style plain stacks and CIFAR-style ResNets.

A backbone is described by one frozen config; the dynamic methods turn its layers into
prunable or gated units. Layouts follow the CIFAR versions of the networks: VGG-16 is five
stages of (2, 2, 3, 3, 3) 3x3 convs with 2x2 max pooling after each stage, and a ResNet is a
3x3 stem and stages of basic blocks (stride 2 and a 1x1 projection entering a new stage).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from nasengine.dynamic.layers import ConvBN
from nasengine.utils.validation import one_of, positive_int, positive_int_tuple

BACKBONES = ("vgg", "resnet")

#: Stage widths and depths of the named defaults (VGG-16 and ResNet-20 for 32x32 inputs).
DEFAULT_LAYOUTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "vgg": ((64, 128, 256, 512, 512), (2, 2, 3, 3, 3)),
    "resnet": ((16, 32, 64), (3, 3, 3)),
}


@dataclass(frozen=True)
class BackboneConfig:
    """Layout of a backbone.

    Attributes:
        kind: "vgg" (plain conv stack) or "resnet" (basic residual blocks).
        widths: Output channels of each stage.
        depths: Convs per stage (vgg) or residual blocks per stage (resnet).
        in_channels: Image channels.
        num_classes: Classifier outputs.
        input_size: Side of the square input images.
    """

    kind: str = "vgg"
    widths: tuple[int, ...] = DEFAULT_LAYOUTS["vgg"][0]
    depths: tuple[int, ...] = DEFAULT_LAYOUTS["vgg"][1]
    in_channels: int = 3
    num_classes: int = 10
    input_size: int = 32

    def __post_init__(self) -> None:
        one_of("kind", self.kind, BACKBONES)
        object.__setattr__(self, "widths", positive_int_tuple("widths", self.widths))
        object.__setattr__(self, "depths", positive_int_tuple("depths", self.depths))
        for name in ("in_channels", "num_classes", "input_size"):
            positive_int(name, getattr(self, name))
        if len(self.widths) != len(self.depths):
            raise ValueError(f"widths {self.widths} and depths {self.depths} must have one entry per stage")
        halvings = len(self.widths) if self.kind == "vgg" else len(self.widths) - 1
        if self.input_size % (2**halvings):
            raise ValueError(f"input_size {self.input_size} must be divisible by {2**halvings} "
                             f"({halvings} downsamplings in a {len(self.widths)}-stage {self.kind})")

    @classmethod
    def default(cls, kind: str, **overrides: Any) -> BackboneConfig:
        """VGG-16 or ResNet-20 layout (for 32x32 inputs), with ``overrides`` applied."""
        one_of("kind", kind, BACKBONES)
        widths, depths = DEFAULT_LAYOUTS[kind]
        return cls(**{"kind": kind, "widths": widths, "depths": depths, **overrides})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackboneConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class ConvSpec:
    """One 3x3 conv of a VGG stack: channels, input side, and whether a max pool follows."""

    in_channels: int
    out_channels: int
    in_size: int
    pool: bool


@dataclass(frozen=True)
class BlockSpec:
    """One basic residual block: channels, stride, input side."""

    in_channels: int
    out_channels: int
    stride: int
    in_size: int

    @property
    def out_size(self) -> int:
        return self.in_size // self.stride


def vgg_plan(cfg: BackboneConfig) -> list[ConvSpec]:
    specs, channels, size = [], cfg.in_channels, cfg.input_size
    for width, depth in zip(cfg.widths, cfg.depths):
        for j in range(depth):
            specs.append(ConvSpec(channels, width, size, pool=j == depth - 1))
            channels = width
        size //= 2
    return specs


def resnet_plan(cfg: BackboneConfig) -> list[BlockSpec]:
    specs, channels, size = [], cfg.widths[0], cfg.input_size
    for s, (width, depth) in enumerate(zip(cfg.widths, cfg.depths)):
        for j in range(depth):
            stride = 2 if s > 0 and j == 0 else 1
            specs.append(BlockSpec(channels, width, stride, size))
            channels, size = width, size // stride
    return specs


class ResidualBody(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN of a basic block, with ``mid`` inner channels."""

    def __init__(self, spec: BlockSpec, mid: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(spec.in_channels, mid, 3, spec.stride)
        self.conv2 = ConvBN(mid, spec.out_channels, 3, 1)


class Shortcut(nn.Module):
    """Identity, or a 1x1 strided projection + BN when the block changes shape."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        needs_projection = spec.stride != 1 or spec.in_channels != spec.out_channels
        self.proj = ConvBN(spec.in_channels, spec.out_channels, 1, spec.stride) if needs_projection else None

    def forward(self, x):
        return x if self.proj is None else self.proj(x, relu=False)

    def run(self, x):
        return x if self.proj is None else self.proj.run(x, relu=False)

    def macs(self, spec: BlockSpec) -> int:
        return 0 if self.proj is None else spec.out_size**2 * spec.in_channels * spec.out_channels
