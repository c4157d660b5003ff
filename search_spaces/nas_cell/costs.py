"""Exact analytic cost of nas_cell architectures from lookup tables.

All cells of one kind share the arch, so for every kind the tables hold, per input class
(state 0, state 1, a 1-wide block, a 2-wide concat block) and per op, the cost summed over
every cell of that kind; likewise the output reductions of states 0/1. What is left depends
only on the output widths (in units of F) of the two kinds, ``(k_normal, k_reduction)``: the
preprocessing convs of every cell and the classifier, cached per pair.

Entries are measured with ``trace_cost`` on the very modules ``build()`` uses (meta device).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import torch

from nasengine.cost import Cost, trace_cost
from nasengine.nn import ElasticLinear

from .cell import OUTPUT_OPTIONS
from .config import KINDS, NasCellConfig, comb_name, in_name, op_name, out_name
from .network import NetPlan, input_conv, make_stem
from .ops import ConvBn, FactorizedReduce, make_op

Pair = tuple[int, int]  # (macs, params)
Extremes = tuple[int, int, int, int]  # (min macs, min params, max macs, max params)


@lru_cache(maxsize=None)
def module_cost(spec: tuple, c_in: int, size: int) -> Pair:
    """Cost of one standalone module fed ``(1, c_in, size, size)`` (``size=0``: a vector)."""
    with torch.device("meta"):
        if spec[0] == "op":
            module = make_op(spec[1], c_in, spec[2], spec[3], bottleneck=spec[4])
        elif spec[0] == "conv1x1":
            module = ConvBn(c_in, spec[1], [1], [1])
        elif spec[0] == "input":
            module = input_conv(c_in, spec[1], base_conv=spec[2])
        elif spec[0] == "factorized":
            module = FactorizedReduce(c_in, spec[1], spec[2], relu=spec[3])
        else:
            module = ElasticLinear(c_in, spec[1], bias=spec[2])
    cost = trace_cost(module, (1, c_in, size, size) if size else (1, c_in))
    return cost.macs, cost.params


def _add(a: Pair, b: Pair) -> Pair:
    return a[0] + b[0], a[1] + b[1]


class CostModel:
    """Tables for one space config; ``cost(choices)`` and ``bounds()`` read them."""

    def __init__(self, cfg: NasCellConfig, plan: NetPlan) -> None:
        self.cfg, self.plan = cfg, plan
        n_classes = 4 if "concat" in cfg.combiners else 3
        # ops[kind][input class][op]; classes: 0 state 0, 1 state 1, 2 block (F), 3 block (2F)
        self.ops = {k: [{op: (0, 0) for op in cfg.ops} for _ in range(n_classes)] for k in KINDS}
        self.out_reduce = {k: [(0, 0), (0, 0)] for k in KINDS}
        for cp in plan.cells:
            f, s_in = cp.filters, 2 if cp.reduction else 1
            w1 = plan.stem_channels if cp.prev is None else f
            inputs = [(f, s_in, cp.size), (w1, s_in, cp.size), (f, 1, cp.out_size), (2 * f, 1, cp.out_size)]
            for cls, (c_in, stride, size) in enumerate(inputs[:n_classes]):
                row = self.ops[cp.kind][cls]
                for op in cfg.ops:
                    row[op] = _add(row[op], module_cost(("op", op, f, stride, cfg.conv_bottleneck), c_in, size))
            for s, c_in in enumerate((f, w1)):
                if cp.reduction or c_in != f:
                    spec = ("factorized", f, s_in, False)
                    self.out_reduce[cp.kind][s] = _add(self.out_reduce[cp.kind][s], module_cost(spec, c_in, cp.size))
        with torch.device("meta"):
            stem = trace_cost(make_stem(cfg), (1, cfg.in_channels, cfg.input_size, cfg.input_size))
        self.const = (stem.macs, stem.params)
        self._pre: dict[Pair, Pair] = {}
        names = {
            a: [
                (in_name(a, j, 0), op_name(a, j, 0), in_name(a, j, 1), op_name(a, j, 1), comb_name(a, j))
                for j in range(cfg.blocks)
            ]
            for a in cfg.arch_kinds
        }
        self._names = {k: names[cfg.arch_kind(k)] for k in KINDS}
        self._outs = {k: [out_name(cfg.arch_kind(k), s) for s in range(cfg.blocks + 1)] for k in KINDS}

    def pre(self, k_normal: int, k_reduction: int) -> Pair:
        """Preprocessing convs of every cell plus the classifier, given output widths / F."""
        key = (k_normal, k_reduction)
        if key not in self._pre:
            mults = {"normal": (k_normal,), "reduction": (k_reduction,)}
            total = (0, 0)
            for cp in self.plan.cells:
                f = cp.filters
                spec = ("input", f, self.cfg.base_conv)
                total = _add(total, module_cost(spec, self.plan.widths(cp.cur, mults)[0], cp.size))
                if cp.prev is None:
                    continue
                c_prev = self.plan.widths(cp.prev, mults)[0]
                if cp.prev_mode == "reduce":
                    total = _add(total, module_cost(("factorized", f, 2, True), c_prev, cp.prev_size))
                elif c_prev != f:
                    total = _add(total, module_cost(("conv1x1", f), c_prev, cp.size))
            last = self.plan.widths(len(self.plan.cells), mults)[0]
            self._pre[key] = _add(total, module_cost(("linear", self.cfg.num_classes, self.cfg.classifier_bias), last, 0))
        return self._pre[key]

    def cost(self, choices: Mapping[str, Any]) -> Cost:
        # config.output_states / output_mult, inlined: this runs for every proposed arch.
        cfg = self.cfg
        macs, params = self.const
        k = {}
        for kind in KINDS:
            table, used, mults = self.ops[kind], set(), [1, 1]
            for i0, o0, i1, o1, comb in self._names[kind]:
                for in_key, op_key in ((i0, o0), (i1, o1)):
                    s = choices[in_key]
                    used.add(s)
                    m, p = table[s if s < 2 else 1 + mults[s]][choices[op_key]]
                    macs, params = macs + m, params + p
                combiner = choices[comb] if len(cfg.combiners) > 1 else cfg.combiners[0]
                mults.append(2 if combiner == "concat" else 1)
            outs, width = self._outs[kind], 0
            for s, mult in enumerate(mults):
                if s in used and not (cfg.output_choices and s < len(outs) and choices[outs[s]] == OUTPUT_OPTIONS[1]):
                    continue
                width += mult
                if s < 2:
                    m, p = self.out_reduce[kind][s]
                    macs, params = macs + m, params + p
            k[kind] = width
        m, p = self.pre(k["normal"], k["reduction"])
        return Cost(macs + m, params + p)

    def bounds(self) -> tuple[Cost, Cost]:
        """Exact (min, max) of MACs and of params over the space (each optimised on its own).

        Tied cells share one arch: their tables are summed and both kinds have the same width.
        """
        if self.cfg.tie_cells:
            ops = [{op: _add(n[op], r[op]) for op in n} for n, r in zip(self.ops["normal"], self.ops["reduction"])]
            reduce = [_add(n, r) for n, r in zip(self.out_reduce["normal"], self.out_reduce["reduction"])]
            tied = self._kind_extremes(ops, reduce)
            pairs = [(k, k, v, (0, 0, 0, 0)) for k, v in tied.items()]
        else:
            per_kind = [self._kind_extremes(self.ops[kind], self.out_reduce[kind]) for kind in KINDS]
            pairs = [(kn, kr, vn, vr) for kn, vn in per_kind[0].items() for kr, vr in per_kind[1].items()]
        lo_m = lo_p = float("inf")
        hi_m = hi_p = -1
        for kn, kr, vn, vr in pairs:
            pm, pp = self.pre(kn, kr)
            lo_m, lo_p = min(lo_m, vn[0] + vr[0] + pm), min(lo_p, vn[1] + vr[1] + pp)
            hi_m, hi_p = max(hi_m, vn[2] + vr[2] + pm), max(hi_p, vn[3] + vr[3] + pp)
        cm, cp = self.const
        return Cost(int(lo_m) + cm, int(lo_p) + cp), Cost(hi_m + cm, hi_p + cp)

    def _kind_extremes(self, table: list[dict[str, Pair]], reduce: list[Pair]) -> dict[int, Extremes]:
        """Output width k -> extremes of (ops + output reductions) over archs of one kind,
        given its op ``table`` (per input class) and output reductions of states 0/1.

        A DP over blocks whose state is (mask of consumed states, mask of concat blocks):
        given the inputs, each side's op is optimised independently; at the end the
        unconsumed states are forced into the output and consumed ones are optional when
        output decisions exist (a small knapsack over k).
        """
        cfg, b = self.cfg, self.cfg.blocks
        ext = [(min(m for m, _ in row.values()), min(p for _, p in row.values()),
                max(m for m, _ in row.values()), max(p for _, p in row.values())) for row in table]
        wide_options = [int(c == "concat") for c in cfg.combiners]
        dp: dict[tuple[int, int], Extremes] = {(0, 0): (0, 0, 0, 0)}
        for j in range(b):
            new: dict[tuple[int, int], Extremes] = {}
            for (mask, wide), v in dp.items():
                side = [ext[s if s < 2 else 2 + (wide >> (s - 2) & 1)] for s in range(j + 2)]
                for s0 in range(j + 2):
                    for s1 in range(s0, j + 2):  # both sides offer the same ops: order is moot
                        e = _plus(_plus(v, side[s0]), side[s1])
                        used = mask | 1 << s0 | 1 << s1
                        for w in wide_options:
                            _merge(new, (used, wide | w << j), e)
            dp = new
        result: dict[int, Extremes] = {}
        for (mask, wide), v in dp.items():
            knap = {0: v}
            for s in range(b + 2):
                mult = 1 if s < 2 else 1 + (wide >> (s - 2) & 1)
                r = reduce[s] if s < 2 else (0, 0)
                add = {k + mult: _plus(e, (*r, *r)) for k, e in knap.items()}
                if not mask >> s & 1:
                    knap = add  # unconsumed: always in the output
                elif cfg.output_choices:
                    for k, e in add.items():
                        _merge(knap, k, e)
            for k, e in knap.items():
                _merge(result, k, e)
        return result


def _plus(a: Extremes, b: Extremes) -> Extremes:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]


def _merge(table: dict, key: Any, e: Extremes) -> None:
    old = table.get(key)
    table[key] = e if old is None else (min(old[0], e[0]), min(old[1], e[1]), max(old[2], e[2]), max(old[3], e[3]))
