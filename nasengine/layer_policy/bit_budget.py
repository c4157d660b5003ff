"""HAQ's resource model and budget rule for per-layer bit widths.

A policy gives layer ``k`` weight bits ``w_k`` and activation bits ``a_k``; its cost is
``fixed + sum_k table[k, w_k, a_k]`` (:class:`BitCost`): HAQ's lookup table of a layer's
latency or energy per bit pair, and equally a model size (``weights_k * w_k``) or BitOps
(``macs_k * w_k * a_k``).

The budget rule is HAQ's ``_final_action_wall``: once the agent has chosen every layer's
bits, while the policy costs more than the limit, walk the layers from the last to the
first, lowering each one's activation bits, then its weight bits, by one (not below their
lower bounds), and stop as soon as the limit holds. HAQ lowers a bit even where that saves
nothing (activation bits under a size limit); here a bit is only lowered when the cost
falls, so that accuracy is not given away for no saving. The limit is checked against the
cheapest policy when the budget is made, so the walk always ends within it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from nasengine.utils.validation import finite_number

__all__ = ["BitBounds", "BitBudget", "BitCost"]

#: ``((lowest weight bits, highest), (lowest activation bits, highest))`` of a layer.
BitBounds = tuple[tuple[int, int], tuple[int, int]]


class BitCost:
    """A network's cost as a function of its layers' bits.

    Args:
        table: ``table[k, w, a]``: the cost of layer ``k`` at ``w`` weight bits and ``a``
            activation bits (entries for bits 0 .. max bits; only those in bounds are read).
        fixed: Cost that no bit width changes.
    """

    def __init__(self, table: np.ndarray, fixed: float = 0.0) -> None:
        self.table = np.asarray(table, dtype=np.float64)
        if self.table.ndim != 3 or self.table.shape[0] < 1 or self.table.shape[1] != self.table.shape[2]:
            raise ValueError(f"a cost table has shape (layers, bits + 1, bits + 1), got {self.table.shape}")
        if not np.all(np.isfinite(self.table)) or np.any(self.table < 0):
            raise ValueError("a cost table holds finite costs >= 0")
        self.fixed = finite_number("fixed", fixed, low=0.0)

    @classmethod
    def from_function(cls, layers: int, cost: Callable[[int, int, int], float], *, fixed: float = 0.0,
                      max_bits: int = 8) -> BitCost:
        """The table of ``cost(k, w, a)`` for bits ``1 .. max_bits`` (0 where a bit count is 0)."""
        table = np.zeros((layers, max_bits + 1, max_bits + 1))
        for k in range(layers):
            for w in range(1, max_bits + 1):
                for a in range(1, max_bits + 1):
                    table[k, w, a] = cost(k, w, a)
        return cls(table, fixed)

    def __len__(self) -> int:
        return int(self.table.shape[0])

    @property
    def max_bits(self) -> int:
        return int(self.table.shape[1]) - 1

    def __call__(self, policy: Sequence[Sequence[int]]) -> float:
        """The cost of ``policy`` (``(w, a)`` per layer)."""
        if len(policy) != len(self):
            raise ValueError(f"expected {len(self)} (weight, activation) bit pairs, got {len(policy)}")
        return self.fixed + float(sum(self.table[k, int(w), int(a)] for k, (w, a) in enumerate(policy)))


class BitBudget:
    """Bounds of each layer's bits and the cost limit that every finished policy meets.

    Args:
        cost: The cost model.
        limit: The most a policy may cost; ``None`` for no limit.
        bounds: Each layer's :data:`BitBounds` (HAQ: 2..8 for both, except the first and
            last layers, fixed at 8).

    Raises:
        ValueError: Bounds outside ``1 .. cost.max_bits``, or a limit below the cheapest policy.
    """

    def __init__(self, cost: BitCost, limit: float | None, bounds: Sequence[BitBounds]) -> None:
        self.cost = cost
        self.bounds = [((int(wl), int(wh)), (int(al), int(ah))) for (wl, wh), (al, ah) in bounds]
        if len(self.bounds) != len(cost):
            raise ValueError(f"expected bounds for {len(cost)} layers, got {len(self.bounds)}")
        for k, pair in enumerate(self.bounds):
            for low, high in pair:
                if not 1 <= low <= high <= cost.max_bits:
                    raise ValueError(f"layer {k}: bit bounds {pair} must satisfy 1 <= low <= high <= {cost.max_bits}")
        self.limit = None if limit is None else finite_number("limit", limit, low=0.0, low_open=True)
        self.min_cost = cost([(wl, al) for (wl, _), (al, _) in self.bounds])
        self.max_cost = cost([(wh, ah) for (_, wh), (_, ah) in self.bounds])
        if self.limit is not None and self.min_cost > self.limit:
            raise ValueError(f"the limit {self.limit:.6g} cannot be met: with every layer at its fewest bits "
                             f"the cost is {self.min_cost:.6g}; raise the limit or lower the bits")

    def __len__(self) -> int:
        return len(self.bounds)

    def bits(self, k: int, which: int, action: float) -> int:
        """HAQ's ``_action_wall``: an action in ``[0, 1]`` as bits of layer ``k``
        (``which`` 0: weights, 1: activations), each whole bit count taking an equal share
        of the interval."""
        low, high = self.bounds[k][which]
        value = round((high - low + 1) * min(max(float(action), 0.0), 1.0) + low - 0.5)
        return int(min(max(value, low), high))

    def enforce(self, policy: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        """``policy`` with bits lowered by HAQ's rule (see the module) until it meets the limit."""
        bits = [[int(w), int(a)] for w, a in policy]
        if len(bits) != len(self):
            raise ValueError(f"expected {len(self)} (weight, activation) bit pairs, got {len(bits)}")
        current = self.cost(bits)
        while self.limit is not None and current > self.limit:
            # A pass lowers the bits that save; where none does (a plateau of a measured
            # table), the bits that cost nothing to lower; where none is left either (a
            # table that is not monotone), every bit goes to its bound, which meets the limit.
            lowered, current = self._walk(bits, current, strict=True)
            if not lowered:
                lowered, current = self._walk(bits, current, strict=False)
            if not lowered:
                bits = [[wl, al] for (wl, _), (al, _) in self.bounds]
                current = self.cost(bits)
        return [(w, a) for w, a in bits]

    def _walk(self, bits: list[list[int]], current: float, *, strict: bool) -> tuple[bool, float]:
        """One walk from the last layer to the first, activations before weights, lowering
        ``bits`` in place; stops once the limit holds. Returns whether a bit was lowered,
        and the cost."""
        assert self.limit is not None
        lowered = False
        for k in reversed(range(len(bits))):
            for which in (1, 0):
                if bits[k][which] <= self.bounds[k][which][0]:
                    continue
                bits[k][which] -= 1
                cost = self.cost(bits)
                if cost < current or (not strict and cost == current):
                    current, lowered = cost, True
                    if current <= self.limit:
                        return True, current
                else:  # saves nothing: keep the bit
                    bits[k][which] += 1
        return lowered, current
