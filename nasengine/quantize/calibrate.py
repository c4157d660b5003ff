"""Clipping ranges of activations, chosen on calibration data.

The input of every quantized layer is observed once, on the floating-point network (as
HAQ's ``calibrate`` does: its calibration pass leaves weights and activations unquantized):
its minimum, maximum and a histogram of the non-zero ``|x|`` (zeros, a ReLU's many, are
exact at any clipping, so they say nothing about it). From these,
:meth:`ActivationStats.clip_range` gives the range that ``a`` bits cover. At 5 bits and more
it is the observed range; below, at few levels, clipping rare large values buys resolution
for the common small ones, and the threshold is chosen by one of :data:`CLIPS`:

* ``kl`` (HAQ's choice, the default): the threshold minimising the Kullback-Leibler
  divergence between the histogram and its quantized version (TensorRT's entropy
  calibration, at TensorRT's 16 histogram bins per level; HAQ's ``_compute_threshold``
  compares cumulative histograms instead);
* ``mse``: the threshold minimising the mean squared error of the quantized values;
* ``max``: no clipping.

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

__all__ = ["CLIPS", "ActivationStats", "CLIP_BELOW_BITS", "activation_stats", "kl_threshold", "mse_threshold"]

CLIPS = ("kl", "mse", "max")  #: how a clipping threshold is chosen
CLIP_BELOW_BITS = 5  #: HAQ clips below 5 bits and takes the full range above
BINS = 1024  #: histogram bins of |x| (TensorRT takes 2048; 1024 is as fine for 2-4 bits, and twice as fast)
KL_BINS_PER_LEVEL = 16  #: ``kl`` compares histograms of 16 bins per level, as TensorRT's 2048 for 128


@dataclass
class ActivationStats:
    """What calibration saw of one layer's input.

    Attributes:
        low: The smallest value.
        high: The largest value.
        hist: Counts of the non-zero ``|x|`` in :data:`BINS` equal bins over ``[0, max |x|]``.
    """

    low: float
    high: float
    hist: np.ndarray
    _ranges: dict[tuple[int, str], tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def absmax(self) -> float:
        return max(-self.low, self.high)

    @property
    def signed(self) -> bool:
        return self.low < 0

    def clip_range(self, bits: int, clip: str = "kl") -> tuple[float, float]:
        """The ``(low, high)`` range that ``bits`` bits quantize, clipped by ``clip`` (cached)."""
        if clip not in CLIPS:
            raise ValueError(f"unknown clipping {clip!r}; choose one of {', '.join(CLIPS)}")
        key = (bits, clip)
        if key not in self._ranges:
            width = self.absmax / len(self.hist)
            if bits >= CLIP_BELOW_BITS or clip == "max" or self.absmax <= 0 or not self.hist.any():
                t = self.absmax
            elif clip == "kl":
                t = kl_threshold(self.hist, width, 2 ** (bits - 1) if self.signed else 2 ** bits)
            else:  # the affine grid has 2^bits - 1 steps over [-t, t] or [0, t]
                t = mse_threshold(self.hist, width, (2 ** bits - 1) / (2 if self.signed else 1))
            self._ranges[key] = (max(self.low, -t), min(self.high, t)) if self.signed else (0.0, min(self.high, t))
        return self._ranges[key]


def kl_threshold(hist: np.ndarray, width: float, levels: int) -> float:
    """The clipping threshold of ``|x|`` (histogram ``hist`` of bins ``width`` wide) whose
    quantization to ``levels`` levels loses the least information: for each candidate of
    ``i`` bins, ``P`` is the histogram cut at ``i`` with the cut-off mass added to its last
    bin and ``Q`` is ``P`` merged into ``levels`` groups, each group's mass spread over its
    non-empty bins; the threshold is the upper edge of the ``i`` minimising ``KL(P || Q)``."""
    hist = np.asarray(hist, dtype=np.float64)
    # TensorRT's ratio: 2048 bins for 128 levels, so the narrowest candidate keeps 1/16 of
    # the range. At 1024 bins and 4-8 levels it would keep 1/256, where P and Q agree bin
    # for bin and the clipped mass, piled into one bin, costs only about log(levels): the
    # input images of a first layer were cut to 0.4% of their range at 3 bits.
    merge = max(1, len(hist) // (KL_BINS_PER_LEVEL * levels))
    if merge > 1:
        hist = np.add.reduceat(hist, np.arange(0, len(hist), merge))
        width *= merge
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


def mse_threshold(hist: np.ndarray, width: float, steps: float) -> float:
    """The clipping threshold ``t`` of ``|x|`` (histogram ``hist`` of bins ``width`` wide,
    each bin taken at its centre) whose grid of ``steps`` equal steps over ``[0, t]`` gives
    the least squared error; candidates are the bin edges."""
    hist = np.asarray(hist, dtype=np.float64)
    centres = (np.arange(len(hist)) + 0.5) * width
    best, best_t = math.inf, len(hist) * width
    for chunk in np.array_split(np.arange(1, len(hist) + 1), max(1, len(hist) // 128)):
        t = chunk[:, None] * width  # candidates x bins, in chunks to bound the memory
        step = t / steps
        error = ((np.round(np.minimum(centres, t) / step) * step - centres) ** 2 * hist).sum(axis=1)
        k = int(np.argmin(error))
        if error[k] < best:
            best, best_t = float(error[k]), float(t[k, 0])
    return best_t


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
            magnitude = inputs[0].detach().abs().float()
            magnitude = magnitude[magnitude > 0]  # zeros (a ReLU's many) are exact at any clip: no evidence
            if top > 0 and magnitude.numel():
                hist[name] += torch.histc(magnitude, BINS, 0.0, top).double().numpy()
        return hook

    for watch in (observe_range, observe_hist):
        observe(model, {modules[n]: watch(n) for n in names}, batches, pre=True)
    missing = [n for n in names if low[n] == math.inf]
    if missing:
        raise ValueError(f"calibration never ran layer(s) {missing[:5]}")
    return {n: ActivationStats(low[n], high[n], hist[n]) for n in names}
