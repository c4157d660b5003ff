"""The layer-wise network: a stem conv, L searched layers reading the previous layer and
their skip sources, factorized reductions of every source at the reduction points, global
pooling and a classifier. ``build_network`` makes the supernet (every candidate, widths for
the widest arch) and standalone networks (the chosen candidates, exact widths) under the same
module names, so a standalone ``state_dict`` is a slice of the supernet's.

Sources are numbered 0 = stem, ``s`` = layer ``s - 1``; layer ``i`` reads source ``i``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping, Sequence, cast

import torch
from torch import nn

from nasengine.head import ClassifierNet
from nasengine.nn import ChoiceOp, ElasticBatchNorm2d, ElasticLinear, InputChoice
from search_spaces.nas_cell.ops import FactorizedReduce

from .config import (
    LayersConfig,
    filters_name,
    input_name,
    layer_filters,
    max_skips,
    op_input_width,
    op_name,
    reduced_sources,
    skip_name,
)
from .ops import make_op


class SkipToggle(InputChoice):
    """An on/off skip connection: option 1 means the source feeds the layer."""

    def __init__(self, decision: str, fixed: int | None = None) -> None:
        super().__init__(decision, 2, fixed)


class Layer(nn.Module):
    """One searched layer.

    Args:
        index: i; the layer reads source i and writes source i + 1.
        op: The operation choice (``ChoiceOp`` over op names).
        skips: ``SkipToggle`` per earlier source (``skip_inputs=0``) or ``InputChoice`` over
            sources 0..i (picking i, the layer's own input, adds nothing).
        combine: ``sum`` or ``concat``.
        bn: BN after the sum (``sum`` layers after the first, as ENAS).
    """

    def __init__(self, index: int, op: ChoiceOp, skips: Sequence[InputChoice], combine: str,
                 bn: nn.Module | None) -> None:
        super().__init__()
        self.index, self.combine = index, combine
        self.op = op
        self.skips = nn.ModuleList(skips)
        self.bn = bn

    def skip_sources(self) -> list[int]:
        if all(isinstance(s, SkipToggle) for s in self.skips):
            return [s for s, toggle in enumerate(self.skips) if toggle.active == 1]
        return sorted({int(c.active) for c in self.skips} - {self.index})  # type: ignore[arg-type]

    def forward(self, sources: list[torch.Tensor]) -> torch.Tensor:
        x = sources[self.index]
        skips = [sources[s] for s in self.skip_sources()]
        if self.combine == "concat":
            return self.op(torch.cat([x, *skips], 1) if skips else x)
        y = self.op(x)
        if self.bn is None:
            return y
        for skip in skips:
            y = y + skip
        return self.bn(y)


class LayersNetwork(ClassifierNet):
    """Stem, layers (with reductions between them), pooling, dropout, classifier (timm's
    classifier API)."""

    def __init__(self, *, stem: nn.Module, layers: list[Layer], reductions: dict[str, nn.ModuleDict],
                 classifier: nn.Module, dropout: float) -> None:
        super().__init__()
        self.stem = stem
        self.layers = nn.ModuleList(layers)
        self.reductions = nn.ModuleDict(reductions)
        self.dropout = nn.Dropout(dropout)
        self.classifier = classifier
        self.init_head()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        sources = [self.stem(x)]
        for i, layer in enumerate(self.layers):
            sources.append(layer(sources))
            if str(i) in self.reductions:  # sources it leaves out are never read again
                reduce = cast(nn.ModuleDict, self.reductions[str(i)])
                sources = [reduce[str(s)](x) if str(s) in reduce else x for s, x in enumerate(sources)]
        return sources[-1]


def make_stem(cfg: LayersConfig) -> nn.Sequential:
    """3x3 conv -> BN, as ENAS's stem (-> ReLU with ``stem_relu``, as Zoph & Le's first layer)."""
    c = cfg.stem_filters
    conv = nn.Conv2d(cfg.in_channels, c, 3, padding=1, bias=False)
    parts: OrderedDict[str, nn.Module] = OrderedDict(conv=conv, bn=nn.BatchNorm2d(c))
    if cfg.stem_relu:
        parts["relu"] = nn.ReLU(inplace=True)
    return nn.Sequential(parts)


def make_reduction(cfg: LayersConfig, after: int) -> FactorizedReduce:
    """A factorized reduction of one source to the next stage's width."""
    stage = cfg.stage(after + 1)
    return FactorizedReduce(cfg.stage_filters(stage - 1), cfg.stage_filters(stage), 2, relu=False)


def build_network(cfg: LayersConfig, choices: Mapping[str, Any] | None) -> LayersNetwork:
    """The supernet (``choices=None``) or the standalone network of ``choices``."""
    searched = len(cfg.filters) > 1
    layers = []
    for i in range(cfg.layers):
        if choices is None:  # sized for the widest input and output
            widest = max(cfg.stem_filters, *cfg.filters) if searched else cfg.stage_filters(cfg.stage(i))
            c_in = widest if cfg.combine == "sum" else widest * (1 + max_skips(cfg, i))
            c_out, ops, options = (max(cfg.filters) if searched else widest), cfg.ops, cfg.filters
        else:
            c_in, c_out, ops = op_input_width(cfg, choices, i), layer_filters(cfg, choices, i), (choices[op_name(i)],)
            options = (c_out,)
        decision, widths = (filters_name(i), {f: f for f in options}) if searched else (None, None)
        candidates = {op: make_op(op, c_in, c_out, input_conv=cfg.input_conv, decision=decision, widths=widths)
                      for op in ops}
        bn = ElasticBatchNorm2d(c_out) if cfg.combine == "sum" and i > 0 else None
        layers.append(Layer(i, ChoiceOp(op_name(i), candidates), _skip_choices(cfg, i, choices), cfg.combine, bn))
    reductions = {}
    for p in cfg.reductions:
        sources = range(p + 2) if choices is None else reduced_sources(cfg, choices, p)
        reductions[str(p)] = nn.ModuleDict({str(s): make_reduction(cfg, p) for s in sources})
    if not searched:
        last = cfg.stage_filters(len(cfg.reductions))
    else:
        last = max(cfg.filters) if choices is None else layer_filters(cfg, choices, cfg.layers - 1)
    return LayersNetwork(stem=make_stem(cfg), layers=layers, reductions=reductions,
                         classifier=ElasticLinear(last, cfg.num_classes), dropout=cfg.dropout)


def _skip_choices(cfg: LayersConfig, i: int, choices: Mapping[str, Any] | None) -> list[InputChoice]:
    def fixed(name: str) -> int | None:
        return None if choices is None else int(choices[name])

    if cfg.skip_inputs == 0:
        return [SkipToggle(skip_name(i, s), fixed(skip_name(i, s))) for s in range(i)]
    if i == 0:
        return []
    return [InputChoice(input_name(i, k), i + 1, fixed(input_name(i, k))) for k in range(cfg.skip_inputs)]
