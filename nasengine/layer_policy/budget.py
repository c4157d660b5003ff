"""AMC's budget rule: clip each layer's action so that the MACs limit stays reachable.

In resource-constrained mode AMC never lets an episode end above the limit. Before layer
``t`` is pruned, its action is capped at the largest ratio for which the network would
still meet the limit if every later layer took its smallest ratio (``_action_wall`` in
AMC's ``env/channel_pruning_env.py``; the paper's Algorithm 1): with the layers decided so
far at their ratios and the later ones at the lower bound, the total is ``a + b * r_t``
(:meth:`ChannelCost.affine`), so the cap is ``(limit - a) / b``. By induction the cap never
falls below layer ``t``'s own lower bound, and the last layer's cap makes the total meet
the limit.

Ratios become channel counts: ``round_to`` keeps counts at multiples of it (AMC rounds to
8), and a capped count is rounded down, so rounding never breaks the limit either.

A second limit on a measure that is not affine in a ratio but never falls when a ratio
grows (:class:`MonotoneLimit`: a latency predicted from measured tables) follows the same
rule: the cap is the largest channel count of layer ``t`` whose measure, with the later
layers at their smallest ratios, stays within the limit (a bisection over its counts).
The same induction holds, since the measure is monotone in every ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from nasengine.layer_policy.layers import ChannelCost
from nasengine.utils.validation import finite_number, positive_int

__all__ = ["ChannelBudget", "MonotoneLimit"]

_EPS = 1e-9  # relative slack for float error when a product should land exactly on a count


@dataclass(frozen=True)
class MonotoneLimit:
    """A limit on ``measure(ratios)``, which must never fall when a ratio grows.

    Attributes:
        measure: The resource of the network at per-layer ratios (e.g. predicted milliseconds).
        limit: Its most allowed value.
        name: What it measures, for messages and episode records.
    """

    measure: Callable[[Sequence[float]], float]
    limit: float
    name: str = "latency"

    def fits(self, ratios: Sequence[float]) -> bool:
        return self.measure(ratios) <= self.limit * (1 + _EPS)


class ChannelBudget:
    """Bounds and the MACs limit for per-layer preserve ratios.

    Args:
        cost: The network's MACs as a function of its ratios.
        limit: The most MACs the pruned network may have (AMC's resource-constrained mode:
            ``preserve_ratio`` times the original, 0.5 for "2x fewer FLOPs"); ``None`` for no
            limit (the accuracy-guaranteed mode, where the reward prices MACs).
        lbound: The smallest ratio a layer may keep (AMC: 0.2).
        rbound: The largest (AMC: 1.0).
        round_to: Channel counts are multiples of this (or a layer's full width).
        other: A second limit, on a monotone measure (a predicted latency); both hold.

    Raises:
        ValueError: A limit is below the network with every layer at its smallest ratio.
    """

    def __init__(self, cost: ChannelCost, limit: float | None, *, lbound: float = 0.2, rbound: float = 1.0,
                 round_to: int = 1, other: MonotoneLimit | None = None) -> None:
        self.cost = cost
        self.lbound = finite_number("lbound", lbound, low=0.0, high=1.0, low_open=True, high_open=False)
        self.rbound = finite_number("rbound", rbound, low=self.lbound, high=1.0, high_open=False)
        self.round_to = positive_int("round_to", round_to)
        self.limit = None if limit is None else finite_number("limit", limit, low=0.0, low_open=True)
        self.min_ratios = [self._ceil(k, self.lbound) for k in range(len(cost))]
        self.max_ratios = [max(self._floor(k, self.rbound), low) for k, low in enumerate(self.min_ratios)]
        smallest = cost.macs(self.min_ratios)
        if self.limit is not None and smallest > self.limit * (1 + _EPS):
            raise ValueError(f"the MACs limit {self.limit:.6g} cannot be met: with every layer at its smallest "
                             f"ratio (lbound {self.lbound}) the network has {smallest:.6g} MACs "
                             f"({smallest / cost.original:.3f} of {cost.original:.6g}); raise the limit or lower lbound")
        self.other = other
        if other is not None and not other.fits(self.min_ratios):
            raise ValueError(f"the {other.name} limit {other.limit:.6g} cannot be met: with every layer at its "
                             f"smallest ratio (lbound {self.lbound}) it is {other.measure(self.min_ratios):.6g}; "
                             "raise the limit or lower lbound")

    def cap(self, decided: Sequence[float]) -> float:
        """The largest ratio layer ``len(decided)`` may take so that the limit stays
        reachable with every later layer at its smallest ratio (``inf`` without a limit)."""
        k = len(decided)
        if not 0 <= k < len(self.cost):
            raise ValueError(f"{k} layers are decided; the network has {len(self.cost)}")
        cap = math.inf
        if self.limit is not None:
            a, b = self.cost.affine([*decided, *self.min_ratios[k:]], k)
            cap = math.inf if b <= 0 else (self.limit - a) / b
        if self.other is not None:
            cap = min(cap, self._other_cap(decided))
        return cap

    def _other_cap(self, decided: Sequence[float]) -> float:
        """The largest allowed ratio of layer ``len(decided)`` within ``other``'s limit with
        the later layers at their smallest ratios (its smallest ratio when none is)."""
        assert self.other is not None
        k = len(decided)
        later = self.min_ratios[k + 1:]
        counts = self._counts(k)
        low, high = 0, len(counts) - 1  # counts[low] fits (or nothing does; the bounds then decide)
        while low < high:
            mid = (low + high + 1) // 2
            if self.other.fits([*decided, counts[mid], *later]):
                low = mid
            else:
                high = mid - 1
        return counts[low]

    def clip(self, decided: Sequence[float], action: float) -> float:
        """The ratio layer ``len(decided)`` keeps for ``action``: within the bounds, at a
        whole channel count (the nearest), and at most :meth:`cap`."""
        k = len(decided)
        cap = self.cap(decided)
        ratio = self._nearest(k, min(max(float(action), self.lbound), self.rbound))
        if ratio > cap:
            ratio = self._floor(k, cap)
        return min(max(ratio, self.min_ratios[k]), self.max_ratios[k])

    def channels(self, ratios: Sequence[float]) -> list[int]:
        """The channel counts that ``ratios`` keep, layer by layer."""
        return [round(r * layer.out_channels) for r, layer in zip(ratios, self.cost.layers)]

    # --- whole channel counts ----------------------------------------------------------------
    def _counts(self, k: int) -> list[float]:
        """The allowed ratios of layer ``k``, increasing."""
        n, step = self.cost.layers[k].out_channels, self.round_to
        ratios = sorted({self._floor(k, c / n) for c in range(step, n + step, step)} | {1.0})
        return [r for r in ratios if self.min_ratios[k] - _EPS <= r <= self.max_ratios[k] + _EPS]

    def _floor(self, k: int, ratio: float) -> float:
        """The largest allowed ratio of layer ``k`` at most ``ratio`` (its smallest count
        when none is)."""
        n, step = self.cost.layers[k].out_channels, self.round_to
        if ratio >= 1.0:
            return 1.0
        m = math.floor(ratio * n / step + _EPS)
        return min(max(m, 1) * step, n) / n

    def _ceil(self, k: int, ratio: float) -> float:
        """The smallest allowed ratio of layer ``k`` at least ``ratio``."""
        n, step = self.cost.layers[k].out_channels, self.round_to
        m = math.ceil(ratio * n / step - _EPS)
        return min(max(m, 1) * step, n) / n

    def _nearest(self, k: int, ratio: float) -> float:
        """The allowed ratio of layer ``k`` nearest to ``ratio`` (the larger on a tie)."""
        low, high = self._floor(k, ratio), self._ceil(k, ratio)
        return low if ratio - low < high - ratio else high
