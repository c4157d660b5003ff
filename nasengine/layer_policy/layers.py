"""The layers a per-layer policy decides for, and how a network's MACs follow its decisions.

A :class:`PrunableLayer` describes one layer whose output channels a policy keeps a
fraction of (its *preserve ratio*). Pruning a layer's outputs also removes the matching
input channels of the layers that read them, so a convolution's MACs scale with its own
ratio times the ratio of the layer that produces its input. AMC's environment models the
cost this way (``_cur_flops`` in ``env/channel_pruning_env.py``: every layer's FLOPs times
its input and output ratios, plus depthwise "buffer" layers that scale with one ratio);
:class:`ChannelCost` is that model for any order of layers:

    total = fixed + sum_k (macs_k * r_k * r_input(k) + follow_k * r_k)

where ``r_input(k)`` is 1 when layer ``k`` reads the network input or an unpruned tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

__all__ = ["ChannelCost", "PrunableLayer"]


@dataclass(frozen=True)
class PrunableLayer:
    """One layer of the policy's sequence, unpruned.

    Attributes:
        index: Position in the sequence (0, 1, ...), the order the policy decides in.
        in_channels: Input channels (input features of a linear layer).
        out_channels: Output channels: those the layer's preserve ratio keeps a part of.
        kernel: Kernel side (1 for a linear layer).
        stride: Stride (1 for a linear layer).
        feature_size: Pixels of its input feature map, height times width (1 for a linear layer).
        macs: Its multiply-accumulates, which scale with its own ratio and the ratio of
            layer ``input_from``.
        params: Its weights (for the state, and for limits on size).
        input_from: Index of the earlier layer whose output channels are this layer's
            input channels; ``None`` when its input is not pruned (the network input).
        follow_macs: MACs that scale with this layer's ratio alone: a depthwise
            convolution or normalisation on its output, or an unpruned layer reading it.
    """

    index: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    feature_size: int
    macs: float
    params: float
    input_from: int | None = None
    follow_macs: float = 0.0

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "kernel", "stride", "feature_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"layer {self.index}: {name} must be a positive integer, got {value!r}")
        for name in ("macs", "params", "follow_macs"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"layer {self.index}: {name} must be >= 0, got {getattr(self, name)!r}")
        if self.input_from is not None and not 0 <= self.input_from < self.index:
            raise ValueError(f"layer {self.index}: input_from must be an earlier layer's index or None, "
                             f"got {self.input_from!r}")


class ChannelCost:
    """The MACs of a network as a function of its layers' preserve ratios.

    Args:
        layers: The prunable layers in decision order (``layers[k].index == k``).
        fixed_macs: MACs that no ratio changes (layers that read and write unpruned tensors).
    """

    def __init__(self, layers: Sequence[PrunableLayer], fixed_macs: float = 0.0) -> None:
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError("a policy needs at least one prunable layer")
        wrong = [k for k, layer in enumerate(self.layers) if layer.index != k]
        if wrong:
            raise ValueError(f"layers must be given in order of their index; position {wrong[0]} holds "
                             f"layer {self.layers[wrong[0]].index}")
        if not float(fixed_macs) >= 0:
            raise ValueError(f"fixed_macs must be >= 0, got {fixed_macs!r}")
        self.fixed_macs = float(fixed_macs)
        self.original = self.macs([1.0] * len(self.layers))
        if not self.original > 0:
            raise ValueError("the layers have no MACs; there is nothing to prune")

    def __len__(self) -> int:
        return len(self.layers)

    def macs(self, ratios: Sequence[float]) -> float:
        """Total MACs when layer ``k`` keeps ``ratios[k]`` of its output channels."""
        if len(ratios) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} ratios, got {len(ratios)}")
        total = self.fixed_macs
        for layer, r in zip(self.layers, ratios):
            r_in = 1.0 if layer.input_from is None else ratios[layer.input_from]
            total += layer.macs * r * r_in + layer.follow_macs * r
        return total

    def affine(self, ratios: Sequence[float], k: int) -> tuple[float, float]:
        """``(a, b)`` such that the total is ``a + b * r`` when layer ``k`` takes ratio ``r``
        and every other layer its entry of ``ratios`` (the total is affine in one ratio:
        no layer reads its own output)."""
        at = list(ratios)
        at[k] = 0.0
        a = self.macs(at)
        at[k] = 1.0
        return a, self.macs(at) - a
