"""Latency units of the NASNet cell space (see ``SearchSpace.latency_units``).

Units, keyed by module and shape so that equal cells of a stage share measurements: the
stem (fixed); per cell the input preprocessing (1x1 conv or factorized reduction, sized by
the previous cells' output widths), every block op at the width, stride and resolution of
the state it reads (wrapped in its ``ChoiceOp`` as ``build()`` runs it), and the factorized
reductions of cell inputs that enter the output; the head (ReLU, pooling, classifier) at
the last cell's width. Combiners and the output concatenation are glue.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.arch import Arch
from nasengine.nn import ChoiceOp, ElasticLinear
from nasengine.space import LatencyUnit

from .cell import StrideVariants, op_stride
from .config import KINDS, NasCellConfig, block_mults, in_name, op_name, output_mult, output_states
from .network import CellPlan, NetPlan, input_conv, make_stem
from .ops import BOTTLENECK_OPS, ConvBn, FactorizedReduce, make_op


class OpUnit(nn.Module):
    """One block op as the network calls it: ``ChoiceOp`` -> ``StrideVariants`` -> op."""

    def __init__(self, op: str, c_in: int, c_out: int, stride: int, pad_counted: bool = False,
                 bottleneck: bool = False) -> None:
        super().__init__()
        self.stride = stride
        module = make_op(op, c_in, c_out, stride, pad_counted=pad_counted, bottleneck=bottleneck)
        self.choice = ChoiceOp("op", {op: StrideVariants({f"s{stride}": module})})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.choice(x, self.stride)


class Head(nn.Module):
    """ReLU, global average pooling, dropout, classifier: the network's last steps."""

    def __init__(self, channels: int, classes: int, dropout: float, bias: bool = True) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = ElasticLinear(channels, classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(F.relu(x).mean((2, 3))))


def latency_units(cfg: NasCellConfig, plan: NetPlan, choices: Mapping[str, Any] | None) -> list[LatencyUnit]:
    """Every unit any architecture runs (``choices=None``), or those of one architecture."""
    size = cfg.input_size
    units = [LatencyUnit(f"stem:{cfg.stem}:{cfg.in_channels}>{plan.stem_channels}:{size}", partial(make_stem, cfg),
                         (cfg.in_channels, size, size), fixed=True)]
    if choices is None:
        mults = {kind: tuple(range(1, cfg.max_mult + 1)) for kind in KINDS}
    else:
        mults = {kind: (output_mult(cfg, choices, kind),) for kind in KINDS}
    for cp in plan.cells:
        units += _preprocessing(cfg, plan, cp, mults)
        units += _ops(cfg, plan, cp, choices)
        units += _out_reductions(cfg, plan, cp, choices)
    last = plan.cells[-1]
    for width in plan.widths(len(plan.cells), mults):
        bias = "" if cfg.classifier_bias else ":nobias"
        units.append(_unit(f"head:{width}>{cfg.num_classes}{bias}", Head, (width, last.out_size),
                           width, cfg.num_classes, cfg.dropout, cfg.classifier_bias))
    if choices is None:  # the same module at the same shape is measured once
        units = list({u.key: u for u in units}.values())
    return units


def _unit(name: str, factory: Any, shape: tuple[int, int], *args: Any, fixed: bool = False, **kwargs: Any) -> LatencyUnit:
    channels, size = shape
    return LatencyUnit(f"{name}:{size}", partial(factory, *args, **kwargs), (channels, size, size), fixed=fixed)


def _state1_width(plan: NetPlan, cp: CellPlan) -> int:
    """State 1 is the raw stem output in the first cell, else preprocessed to F."""
    return plan.stem_channels if cp.prev is None else cp.filters


def _preprocessing(cfg: NasCellConfig, plan: NetPlan, cp: CellPlan,
                   mults: Mapping[str, tuple[int, ...]]) -> Iterator[LatencyUnit]:
    f = cp.filters
    for c in plan.widths(cp.cur, mults):
        if cfg.base_conv:  # in the supernet the match conv is skipped for F-wide inputs, as here
            yield _unit(f"baseconv:{c}>{f}", input_conv, (c, cp.size), c, f, base_conv=True)
        else:
            yield _unit(f"conv1x1:{c}>{f}", ConvBn, (c, cp.size), c, f, [1], [1])
    if cp.prev is None:
        return
    for c in plan.widths(cp.prev, mults):
        if cp.prev_mode == "reduce":
            yield _unit(f"fr:{c}>{f}:s2:relu", FactorizedReduce, (c, cp.prev_size), c, f, 2, relu=True)
        elif c != f:
            yield _unit(f"conv1x1:{c}>{f}", ConvBn, (c, cp.size), c, f, [1], [1])


def _ops(cfg: NasCellConfig, plan: NetPlan, cp: CellPlan, choices: Mapping[str, Any] | None) -> Iterator[LatencyUnit]:
    f = cp.filters
    # (state, channels) an op may read: cell inputs, then blocks (2F wide after a concat).
    inputs = [(0, f), (1, _state1_width(plan, cp)), (2, f)] + ([(2, 2 * f)] if "concat" in cfg.combiners else [])
    if choices is None:
        reads = [(state, c, op) for state, c in inputs for op in cfg.ops]
    else:
        widths = [f, _state1_width(plan, cp)] + [f * m for m in block_mults(cfg, choices, cp.kind)[2:]]
        reads, kind = [], cfg.arch_kind(cp.kind)
        for j in range(cfg.blocks):
            for side in (0, 1):
                state = choices[in_name(kind, j, side)]
                reads.append((state, widths[state], choices[op_name(kind, j, side)]))
    pad_counted = cfg.avg_pool_padding == "include_strided"
    for state, c, op in reads:
        stride = op_stride(cp.reduction, state)
        size = cp.size if state < 2 else cp.out_size
        bottleneck = cfg.conv_bottleneck and op in BOTTLENECK_OPS
        yield _unit(f"op:{op}{':bottleneck' if bottleneck else ''}:{c}>{f}:s{stride}", OpUnit, (c, size), op, c, f,
                    stride, pad_counted, bottleneck)


def _out_reductions(cfg: NasCellConfig, plan: NetPlan, cp: CellPlan,
                    choices: Mapping[str, Any] | None) -> Iterator[LatencyUnit]:
    f, stride = cp.filters, 2 if cp.reduction else 1
    used = None if choices is None else output_states(cfg, choices, cp.kind)
    for state, c in ((0, f), (1, _state1_width(plan, cp))):
        if (used is None or state in used) and (cp.reduction or c != f):
            yield _unit(f"fr:{c}>{f}:s{stride}:norelu", FactorizedReduce, (c, cp.size), c, f, stride, relu=False)


def arch_units(space: Any, arch: Arch | None) -> list[LatencyUnit]:
    """``NasCellSpace.latency_units``: validates ``arch`` first."""
    choices = None if arch is None else space.arch(arch).choices
    return latency_units(space.config, space._plan, choices)
