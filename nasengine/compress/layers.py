"""What a pruning method sees of a network: its prunable layers, one per group of
channels that must be removed together (``LayerInfo``), and the channel-count rule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

LayerKind = Literal["conv", "linear"]


class PruningError(ValueError):
    """A network or a request that cannot be pruned; printed as one line by the CLI."""


@dataclass(frozen=True)
class LayerInfo:
    """One prunable layer: a group of coupled output channels, named by its first layer.

    Removing output channel ``i`` of ``name`` also removes channel ``i`` of every layer in
    ``coupled`` (residual sums, depthwise convolutions, squeeze-excitation gates and
    concatenations tie them, as Torch-Pruning's dependency graph finds) and the matching
    input channels of ``consumers``.

    Attributes:
        index: Position among the prunable layers, in forward (execution) order.
        name: Module name of the group's first executed layer; keys of ``prune_to_ratios``.
        kind: ``"conv"`` (``nn.Conv2d``) or ``"linear"`` (``nn.Linear``).
        in_channels: Input channels (features) of ``name``.
        out_channels: Output channels of ``name``: the group's prunable channels.
        kernel: Kernel size ``(kh, kw)`` (``(1, 1)`` for a linear layer).
        stride: Stride ``(sh, sw)`` (``(1, 1)`` for a linear layer).
        feature_size: Output feature map ``(h, w)`` of ``name`` (``(1, 1)`` for a linear layer).
        macs: MACs per image of ``name`` alone.
        params: Parameters of ``name`` alone (weight and bias).
        groups: ``groups`` of the convolution (1 for a linear layer).
        depthwise: Whether ``name`` is a depthwise convolution.
        coupled: Other layers whose output channels are removed with these.
        consumers: Layers whose input channels shrink with these (outside the group's outputs).
        residual: The channels meet another branch in an element-wise sum (a shortcut).
    """

    index: int
    name: str
    kind: LayerKind
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    feature_size: tuple[int, int]
    macs: int
    params: int
    groups: int
    depthwise: bool
    coupled: tuple[str, ...]
    consumers: tuple[str, ...]
    residual: bool

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def kept_channels(ratio: float, channels: int) -> int:
    """Channels a preserve ``ratio`` keeps of ``channels``: the nearest integer to
    ``ratio * channels`` (halves round up), at least 1 and at most ``channels``.

    Raises:
        ValueError: ``ratio`` is not in ``(0, 1]``.
    """
    if not (isinstance(ratio, (int, float)) and 0.0 < ratio <= 1.0 and math.isfinite(ratio)):
        raise ValueError(f"a preserve ratio must be in (0, 1], got {ratio!r}")
    return max(1, min(channels, math.floor(ratio * channels + 0.5)))
