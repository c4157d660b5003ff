"""The NASNet macro structure (a static plan of cells) and the builders of the supernet and
of standalone networks from it.

Layout, as slim's ``_build_nasnet_base``: a stem, then stages of normal cells (N each, or the
configured counts) with a reduction cell (filters doubled) before every stage but the first;
the ImageNet stem adds two reduction "stem cells" at F/4 and F/2. Every cell reads the last two
outputs (``cur``, ``prev``); the first cell after the stem conv has no ``prev`` and reads the
raw stem output twice (``first_prev="conv"``: its ``prev`` is the stem output, 1x1-convolved).
``base_conv`` and ``classifier_bias=False`` give ENAS' variant of the structure.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.head import ClassifierNet
from nasengine.nn import ChoiceOp, ElasticLinear, InputChoice

from .cell import COMBINERS, OUTPUT_OPTIONS, Block, Cell, StrideVariants, op_stride
from .config import KINDS, NasCellConfig, comb_name, in_name, op_name, out_name, output_mult, output_states
from .ops import BN_EPS, ConvBn, FactorizedReduce, SameConv2d, make_op


class BaseConvInput(nn.Module):
    """ENAS' current cell input (micro_child ``_maybe_calibrate_size`` then ``layer_base``):
    ReLU-1x1 conv-BN to ``c_out`` channels only when the input has another width (``match``),
    then always a second one, ``c_out`` -> ``c_out`` (``base``)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c_out = c_out
        self.match = ConvBn(c_in, c_out, [1], [1]) if c_in != c_out else None
        self.base = ConvBn(c_out, c_out, [1], [1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.match is not None and x.shape[1] != self.c_out:
            x = self.match(x)
        return self.base(x)


def input_conv(c_in: int, c_out: int, *, base_conv: bool) -> nn.Module:
    """The current-input preprocessing of a cell: slim's one ReLU-1x1 conv-BN, or ENAS' pair."""
    return BaseConvInput(c_in, c_out) if base_conv else ConvBn(c_in, c_out, [1], [1])


@dataclass(frozen=True)
class CellPlan:
    """Where one cell sits. Sources are numbered 0 = stem conv, ``i + 1`` = cell ``i``."""

    kind: str
    filters: int
    size: int  # resolution of the current input
    out_size: int
    cur: int
    prev: int | None  # None: the raw current input stands in for it (slim's first cell)
    prev_size: int

    @property
    def reduction(self) -> bool:
        return self.kind == "reduction"

    @property
    def prev_mode(self) -> str:
        """``raw`` (no prev), ``same`` (1x1 conv if widths differ) or ``reduce`` (factorized)."""
        if self.prev is None:
            return "raw"
        return "same" if self.prev_size == self.size else "reduce"


@dataclass(frozen=True)
class NetPlan:
    stem_channels: int
    stem_size: int
    cells: tuple[CellPlan, ...]

    def widths(self, source: int, mults: Mapping[str, Iterable[int]]) -> list[int]:
        """Possible channel counts of ``source`` given possible output mults per cell kind."""
        if source == 0:
            return [self.stem_channels]
        cell = self.cells[source - 1]
        return [m * cell.filters for m in mults[cell.kind]]


def make_plan(cfg: NasCellConfig) -> NetPlan:
    """The cells of the network, mirroring slim's order and ``prev`` choices."""
    f = cfg.filters
    stem_size = (cfg.input_size - 3) // 2 + 1 if cfg.stem == "imagenet" else cfg.input_size
    sizes, cells = [stem_size], []
    outputs: list[int | None] = [None if cfg.first_prev == "raw" else 0, 0]

    def add(kind: str, filters: int, prev: int | None) -> None:
        cur = outputs[-1]
        assert cur is not None
        size = sizes[cur]
        out_size = math.ceil(size / 2) if kind == "reduction" else size
        prev_size = size if prev is None else sizes[prev]
        if prev_size not in (size, 2 * size, 2 * size - 1):  # one factorized reduction apart
            raise ValueError(f"cell {len(cells)}: previous input {prev_size}px cannot be matched to {size}px")
        cells.append(CellPlan(kind, filters, size, out_size, cur, prev, prev_size))
        sizes.append(out_size)
        outputs.append(len(sizes) - 1)

    if cfg.stem == "imagenet":
        add("reduction", f // 4, outputs[-2])
        add("reduction", f // 2, outputs[-2])
    for stage, n in enumerate(cfg.stages):
        before_reduction = outputs[-2]
        if stage:
            add("reduction", f * 2**stage, outputs[-2])
        for i in range(n):
            skip = stage and i == 0 and cfg.skip_reduction_input
            add("normal", f * 2**stage, before_reduction if skip else outputs[-2])
    return NetPlan(cfg.stem_channels, stem_size, tuple(cells))


class NasCellNetwork(ClassifierNet):
    """Stem, cells, ReLU, global average pooling, dropout, linear classifier (timm's
    classifier API: ``forward_features``, ``forward_head``, ``reset_classifier``)."""

    def __init__(self, *, plan: NetPlan, stem: nn.Module, cells: list[Cell], classifier: nn.Module, dropout: float):
        super().__init__()
        self.links = [(c.cur, c.prev) for c in plan.cells]
        self.stem = stem
        self.cells = nn.ModuleList(cells)
        self.dropout = nn.Dropout(dropout)
        self.classifier = classifier
        self.init_head()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        sources = [self.stem(x)]
        for (cur, prev), cell in zip(self.links, self.cells):
            sources.append(cell(sources[cur], sources[cur if prev is None else prev]))
        return F.relu(sources[-1])


def build_network(cfg: NasCellConfig, plan: NetPlan, choices: Mapping[str, Any] | None) -> NasCellNetwork:
    """The supernet (``choices=None``: every candidate, widths sized for the widest arch) or
    the standalone network of ``choices`` (exact widths), under the same module names."""
    if choices is None:
        mults = {kind: range(1, cfg.max_mult + 1) for kind in KINDS}
    else:
        mults = {kind: (output_mult(cfg, choices, kind),) for kind in KINDS}
    cells = [build_cell(cfg, plan, cell, mults, choices) for cell in plan.cells]
    last = max(plan.widths(len(plan.cells), mults))
    classifier = ElasticLinear(last, cfg.num_classes, bias=cfg.classifier_bias)
    return NasCellNetwork(plan=plan, stem=make_stem(cfg), cells=cells, classifier=classifier, dropout=cfg.dropout)


def make_stem(cfg: NasCellConfig) -> nn.Sequential:
    """slim's stems: ImageNet 3x3 stride-2 VALID conv, CIFAR 3x3 SAME conv; then BN."""
    c = cfg.stem_channels
    if cfg.stem == "imagenet":
        conv: nn.Module = nn.Conv2d(cfg.in_channels, c, 3, 2, bias=False)
    else:
        conv = SameConv2d(cfg.in_channels, c, 3, 1)
    return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(c, eps=BN_EPS)))


def build_cell(
    cfg: NasCellConfig,
    plan: NetPlan,
    cp: CellPlan,
    mults: Mapping[str, Sequence[int]],
    choices: Mapping[str, Any] | None,
) -> Cell:
    """One cell with every candidate (``choices=None``) or the chosen ones.

    ``state_widths[s]`` lists the channel counts state ``s`` may have (one when standalone);
    convs reading a state are sized for the widest and projections exist where any differs.
    """
    f, kind, supernet = cp.filters, cfg.arch_kind(cp.kind), choices is None

    def pick(name: str, options: Sequence[Any]) -> Sequence[Any]:
        return options if supernet else (choices[name],)

    pre0 = input_conv(max(plan.widths(cp.cur, mults)), f, base_conv=cfg.base_conv)
    pre1: nn.Module | None = None
    if cp.prev is None:
        state1 = plan.widths(cp.cur, mults)  # the raw current input, unprocessed (slim)
    else:
        prev_widths = plan.widths(cp.prev, mults)
        state1 = [f]
        if cp.prev_mode == "reduce":
            pre1 = FactorizedReduce(max(prev_widths), f, 2, relu=True)
        elif any(w != f for w in prev_widths):
            pre1 = ConvBn(max(prev_widths), f, [1], [1])
    state_widths = [[f], state1]

    blocks = []
    for j in range(cfg.blocks):
        inputs, ops = [], []
        for side in (0, 1):
            states = pick(in_name(kind, j, side), range(j + 2))
            inputs.append(InputChoice(in_name(kind, j, side), j + 2, fixed=None if supernet else states[0]))
            candidates = {
                op: _stride_variants(cfg, op, cp, states, state_widths)
                for op in pick(op_name(kind, j, side), cfg.ops)
            }
            ops.append(ChoiceOp(op_name(kind, j, side), candidates))
        if len(cfg.combiners) > 1:
            names = pick(comb_name(kind, j), cfg.combiners)
            combine: nn.Module = ChoiceOp(comb_name(kind, j), {n: COMBINERS[n]() for n in names})
        else:
            names = cfg.combiners
            combine = COMBINERS[names[0]]()
        state_widths.append(sorted({f * (2 if n == "concat" else 1) for n in names}))
        blocks.append(Block(inputs=tuple(inputs), ops=tuple(ops), combine=combine, reduction=cp.reduction))

    outputs = None
    if cfg.output_choices:
        outputs = [
            ChoiceOp(out_name(kind, s), {o: nn.Identity() for o in pick(out_name(kind, s), OUTPUT_OPTIONS)})
            for s in range(cfg.blocks + 1)
        ]
    out_reduce = {}
    for s in (0, 1):  # only cell inputs can differ from F channels or the output resolution
        in_output = supernet or s in output_states(cfg, choices, cp.kind)
        if in_output and (cp.reduction or any(w != f for w in state_widths[s])):
            out_reduce[str(s)] = FactorizedReduce(max(state_widths[s]), f, 2 if cp.reduction else 1, relu=False)
    return Cell(
        filters=f,
        reduction=cp.reduction,
        pre0=pre0,
        pre1=pre1,
        pre1_reduces=cp.prev_mode == "reduce",
        blocks=blocks,
        out_reduce=out_reduce,
        outputs=outputs,
    )


def _stride_variants(
    cfg: NasCellConfig, op: str, cp: CellPlan, states: Sequence[int], state_widths: list[list[int]]
) -> StrideVariants:
    """Operation ``op`` at each stride it runs with when reading any of ``states``."""
    variants, pad_counted = StrideVariants(), cfg.avg_pool_padding == "include_strided"
    for stride in sorted({op_stride(cp.reduction, s) for s in states}):
        widths = [w for s in states if op_stride(cp.reduction, s) == stride for w in state_widths[s]]
        project = any(w != cp.filters for w in widths) or (op == "identity" and stride > 1)
        variants[f"s{stride}"] = make_op(op, max(widths), cp.filters, stride, project=project, pad_counted=pad_counted,
                                         bottleneck=cfg.conv_bottleneck)
    return variants
