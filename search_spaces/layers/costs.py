"""Exact analytic cost of layer-wise architectures.

A layer's cost depends only on its op, the channels the op reads, its filter count and the
resolution, so each ``(op, c_in, c_out, size)`` is measured once with ``trace_cost`` on the
very module ``build()`` uses (meta device) and cached. The stem, the reductions (fixed by the
config) and the classifier (its input width) complete the sum. ``sum`` layers after the first
add a BN (2 x filters parameters, no MACs).

The reductions halve only the sources some later layer reads (``reduced_sources``).

Bounds: every op's MACs and parameters grow with its input and output widths, so the
extremes of each layer lie at the narrowest (no skips, fewest filters) or widest (most skips,
most filters) widths; layers are independent once those are fixed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import torch

from nasengine.cost import Cost, trace_cost

from .config import LayersConfig, layer_filters, max_reduced_sources, max_skips, op_input_width, op_name, reduced_sources
from .network import make_reduction, make_stem
from .ops import make_op

Pair = tuple[int, int]  # (macs, params)


@lru_cache(maxsize=None)
def op_cost(op: str, c_in: int, c_out: int, size: int, input_conv: bool) -> Pair:
    with torch.device("meta"):
        module = make_op(op, c_in, c_out, input_conv=input_conv)
    cost = trace_cost(module, (1, c_in, size, size))
    return cost.macs, cost.params


class CostModel:
    """Fixed costs of one config; ``cost(choices)`` adds the layers and the classifier."""

    def __init__(self, cfg: LayersConfig) -> None:
        self.cfg = cfg
        size = cfg.input_size
        with torch.device("meta"):
            self.fixed = trace_cost(make_stem(cfg), (1, cfg.in_channels, size, size))
            self.reduce: dict[int, Cost] = {}  # one source's reduction after layer p
            for p in cfg.reductions:
                stage = cfg.stage(p)
                c, s = cfg.stage_filters(stage), cfg.size(stage)
                self.reduce[p] = trace_cost(make_reduction(cfg, p), (1, c, s, s))
        self._op_names = [op_name(i) for i in range(cfg.layers)]

    def layer(self, op: str, i: int, c_in: int, c_out: int) -> Pair:
        cfg = self.cfg
        macs, params = op_cost(op, c_in, c_out, cfg.size(cfg.stage(i)), cfg.input_conv)
        if cfg.combine == "sum" and i > 0:
            params += 2 * c_out
        return macs, params

    def head(self, c_in: int) -> Pair:
        classes = self.cfg.num_classes
        return c_in * classes, (c_in + 1) * classes

    def cost(self, choices: Mapping[str, Any]) -> Cost:
        cfg = self.cfg
        macs, params = self.fixed.macs, self.fixed.params
        c_out = 0
        for i, name in enumerate(self._op_names):
            c_out = layer_filters(cfg, choices, i)
            m, p = self.layer(choices[name], i, op_input_width(cfg, choices, i), c_out)
            macs, params = macs + m, params + p
        for after, one in self.reduce.items():
            n = len(reduced_sources(cfg, choices, after))
            macs, params = macs + n * one.macs, params + n * one.params
        m, p = self.head(c_out)
        return Cost(macs + m, params + p)

    def _widest_skips(self, i: int, wide: int) -> int:
        """Most channels layer ``i``'s skips add to its input (concatenated skips only). With
        on/off skips every earlier source is on: the stem and layers 0..i-2; a stem of its
        own width (``stem_width``) counts as it is."""
        cfg = self.cfg
        if cfg.combine != "concat" or i == 0:
            return 0
        stem = wide if cfg.stem_width is None else cfg.stem_filters
        if cfg.skip_inputs == 0:
            return stem + (i - 1) * wide
        return max_skips(cfg, i) * max(stem, wide)

    def bounds(self) -> tuple[Cost, Cost]:
        """Exact (min, max) of MACs and of params over the space (each on its own)."""
        cfg = self.cfg
        lo = [self.fixed.macs, self.fixed.params]
        hi = [self.fixed.macs, self.fixed.params]
        searched = len(cfg.filters) > 1
        for i in range(cfg.layers):
            narrow = min(cfg.filters) if searched else cfg.stage_filters(cfg.stage(i))
            wide = max(cfg.filters) if searched else narrow
            # layer i reads source i: the stem or the previous layer
            own_lo, own_hi = (cfg.stem_filters, cfg.stem_filters) if i == 0 else (narrow, wide)
            high = [self.layer(op, i, own_hi + self._widest_skips(i, wide), wide) for op in cfg.ops]
            low = [self.layer(op, i, own_lo, narrow) for op in cfg.ops]
            for k in (0, 1):
                lo[k] += min(pair[k] for pair in low)
                hi[k] += max(pair[k] for pair in high)
        last_lo = min(cfg.filters) if searched else cfg.stage_filters(len(cfg.reductions))
        last_hi = max(cfg.filters) if searched else last_lo
        for after, one in self.reduce.items():
            n = max_reduced_sources(cfg, after)
            lo, hi = [lo[0] + one.macs, lo[1] + one.params], [hi[0] + n * one.macs, hi[1] + n * one.params]
        for k in (0, 1):
            lo[k] += self.head(last_lo)[k]
            hi[k] += self.head(last_hi)[k]
        return Cost(lo[0], lo[1]), Cost(hi[0], hi[1])
