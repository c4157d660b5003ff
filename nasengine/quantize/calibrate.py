"""Clipping ranges of activations, chosen on calibration data.

The input of every quantized layer is observed once, on the floating-point network (as
HAQ's ``calibrate`` does: its calibration pass leaves weights and activations unquantized):
its minimum, maximum and a histogram of ``|x|``. From these, :meth:`ActivationStats.clip_range`
gives the range that ``a`` bits cover. At 5 bits and more it is the observed range; below,
the clipping threshold minimises the Kullback-Leibler divergence between the histogram and
its quantized version (HAQ's ``_compute_threshold``, the entropy calibration of TensorRT):
at few levels, clipping rare large values buys resolution for the common small ones.

Inputs that are never negative (after a ReLU) get an unsigned range ``[0, t]`` and all
``2^a`` levels; others a range symmetric about 0 (cut to what was observed), half the
levels on each side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
from torch import nn

from nasengine.quantize.hooks import observe

__all__ = ["ActivationStats", "KL_BELOW_BITS", "activation_stats", "kl_threshold"]

KL_BELOW_BITS = 5  #: HAQ clips by KL divergence below 5 bits and takes the full range above
BINS = 1024  #: histogram bins of |x| (TensorRT takes 2048; 1024 is as fine for 2-4 bits, and twice as fast)


@dataclass
class ActivationStats:
    """What calibration saw of one layer's input.

    Attributes:
        low: The smallest value.
        high: The largest value.
        hist: Counts of ``|x|`` in :data:`BINS` equal bins over ``[0, max |x|]``.
    """

    low: float
    high: float
    hist: np.ndarray
    _ranges: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def absmax(self) -> float:
        return max(-self.low, self.high)

    @property
    def signed(self) -> bool:
        return self.low < 0

    def clip_range(self, bits: int) -> tuple[float, float]:
        """The ``(low, high)`` range that ``bits`` bits quantize (cached)."""
        if bits not in self._ranges:
            if bits >= KL_BELOW_BITS or self.absmax <= 0:
                self._ranges[bits] = (min(self.low, 0.0), max(self.high, 0.0))
            else:
                levels = 2 ** (bits - 1) if self.signed else 2 ** bits
                t = kl_threshold(self.hist, self.absmax / len(self.hist), levels)
                self._ranges[bits] = (max(self.low, -t), min(self.high, t)) if self.signed else (0.0, min(self.high, t))
        return self._ranges[bits]


def kl_threshold(hist: np.ndarray, width: float, levels: int) -> float:
    """The clipping threshold of ``|x|`` (histogram ``hist`` of bins ``width`` wide) whose
    quantization to ``levels`` levels loses the least information: for each candidate of
    ``i`` bins, ``P`` is the histogram cut at ``i`` with the cut-off mass added to its last
    bin and ``Q`` is ``P`` merged into ``levels`` groups, each group's mass spread over its
    non-empty bins; the threshold is the upper edge of the ``i`` minimising ``KL(P || Q)``."""
    hist = np.asarray(hist, dtype=np.float64)
    if len(hist) <= levels:
        return len(hist) * width
    best, best_i = math.inf, len(hist)
    for i in range(levels, len(hist) + 1):
        ref = hist[:i]
        p = ref.copy()
        p[-1] += hist[i:].sum()
        starts = (np.arange(levels) * i) // levels
        used = (ref > 0).astype(np.float64)
        sums, counts = np.add.reduceat(ref, starts), np.add.reduceat(used, starts)
        q = np.repeat(sums / np.maximum(counts, 1.0), np.diff(np.append(starts, i))) * used
        d = _kl(p, q)
        if d < best:
            best, best_i = d, i
    return best_i * width


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """``KL(p || q)`` of two count vectors, normalised; bins that ``q`` misses get a tiny
    mass (as TensorRT smooths), so that the divergence stays finite."""
    p, q = p / p.sum(), np.maximum(q, 1e-4 * q.max() if q.max() > 0 else 1e-12)
    q = q / q.sum()
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def activation_stats(model: nn.Module, layers: Iterable[str],
                     batches: Iterable[torch.Tensor]) -> dict[str, ActivationStats]:
    """The input statistics of the named layers over ``batches`` (two eval passes: the
    range first, then the histogram over it)."""
    modules = dict(model.named_modules())
    names = list(layers)
    batches = list(batches)
    low = {n: math.inf for n in names}
    high = {n: -math.inf for n in names}
    hist = {n: np.zeros(BINS) for n in names}

    def observe_range(name: str):
        def hook(_m: nn.Module, inputs: tuple) -> None:
            x = inputs[0].detach()
            low[name], high[name] = min(low[name], float(x.min())), max(high[name], float(x.max()))
        return hook

    def observe_hist(name: str):
        def hook(_m: nn.Module, inputs: tuple) -> None:
            top = max(-low[name], high[name])
            if top > 0:
                hist[name] += torch.histc(inputs[0].detach().abs().float(), BINS, 0.0, top).double().numpy()
        return hook

    for watch in (observe_range, observe_hist):
        observe(model, {modules[n]: watch(n) for n in names}, batches, pre=True)
    missing = [n for n in names if low[n] == math.inf]
    if missing:
        raise ValueError(f"calibration never ran layer(s) {missing[:5]}")
    return {n: ActivationStats(low[n], high[n], hist[n]) for n in names}
