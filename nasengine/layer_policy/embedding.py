"""AMC's state: one vector per layer, what the agent sees before it decides that layer.

The paper (Section 3.2) embeds layer ``t`` as ``(t, n, c, h, w, stride, k, FLOPs[t],
reduced, rest, a_{t-1})``; here the features are, in order, :data:`FEATURES`: the layer's
index, input and output channels, kernel side, stride, input feature-map size (``h * w``),
its MACs, the MACs removed so far by the layers already decided (a fraction of the
original total), the original MACs of the layers after it (a fraction of the total, as
AMC's code computes ``rest``), and the previous layer's ratio (1 for the first layer).

The static features are scaled to ``[0, 1]`` per feature over the network's layers
(min-max, as ``_build_state_embedding`` does); a feature that is the same for every layer
becomes 0 (AMC's code leaves such a column unscaled, which lets a raw channel count reach
the networks). AMC's code stores the layer type and weight count where the paper has the
feature size and FLOPs; this follows the paper.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nasengine.layer_policy.layers import ChannelCost

__all__ = ["FEATURES", "StateEmbedding", "min_max_columns"]

FEATURES = ("index", "in_channels", "out_channels", "kernel", "stride", "feature_size", "macs",
            "reduced", "rest", "previous_ratio")
_STATIC = FEATURES[:7]


def min_max_columns(table: np.ndarray) -> np.ndarray:
    """``table`` (rows: layers, columns: features) with each column scaled to ``[0, 1]``;
    a constant column becomes 0."""
    table = np.asarray(table, dtype=np.float64)
    low, high = table.min(axis=0), table.max(axis=0)
    span = high - low
    return np.where(span > 0, (table - low) / np.where(span > 0, span, 1.0), 0.0)


class StateEmbedding:
    """The state vectors of a network's layers as ratios get decided.

    Args:
        cost: The layers and their MACs model.
    """

    size = len(FEATURES)

    def __init__(self, cost: ChannelCost) -> None:
        self.cost = cost
        raw = np.array([[getattr(layer, name) for name in _STATIC] for layer in cost.layers], dtype=np.float64)
        self.static = min_max_columns(raw)
        spent = [layer.macs + layer.follow_macs for layer in cost.layers]
        after = np.cumsum(spent[::-1])[::-1]  # after[k]: MACs of layers k, k+1, ...
        self.rest = [(after[k + 1] if k + 1 < len(spent) else 0.0) / cost.original for k in range(len(spent))]

    def state(self, decided: Sequence[float]) -> np.ndarray:
        """The state of layer ``len(decided)`` after the layers before it took ``decided``."""
        k = len(decided)
        if not 0 <= k < len(self.cost):
            raise ValueError(f"{k} layers are decided; the network has {len(self.cost)}")
        now = self.cost.macs([*decided, *[1.0] * (len(self.cost) - k)])
        reduced = (self.cost.original - now) / self.cost.original
        previous = decided[-1] if decided else 1.0
        return np.concatenate([self.static[k], [reduced, self.rest[k], previous]])
