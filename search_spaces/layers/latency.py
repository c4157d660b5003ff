"""Latency units of the layer-wise space (see ``SearchSpace.latency_units``).

Units, keyed by module and shape so that equal layers share measurements: the stem (fixed: in every
arch), the factorized reductions of the sources still read, every layer's op at the channels it reads and
writes and its resolution, and the head (pooling, dropout, classifier) at the last layer's
width. Skip sums, concatenations and the sum's BN are glue (no Conv2d/Linear work).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Iterator, Mapping

from torch import nn

from nasengine.nn import ElasticLinear
from nasengine.space import LatencyUnit
from search_spaces.nas_cell.ops import FactorizedReduce

from .config import LayersConfig, layer_filters, max_skips, op_input_width, op_name, reduced_sources
from .network import make_stem
from .ops import make_op


def make_head(channels: int, classes: int, dropout: float) -> nn.Sequential:
    """Global average pooling, dropout, classifier: the network's last steps."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), ElasticLinear(channels, classes))


def _unit(key: str, factory: Any, channels: int, size: int, *args: Any, fixed: bool = False,
          **kwargs: Any) -> LatencyUnit:
    return LatencyUnit(f"{key}:{size}", partial(factory, *args, **kwargs), (channels, size, size), fixed=fixed)


def _op_unit(cfg: LayersConfig, op: str, c_in: int, c_out: int, size: int) -> LatencyUnit:
    conv = "ic" if cfg.input_conv else "plain"
    return _unit(f"op:{op}:{conv}:{c_in}>{c_out}", make_op, c_in, size, op, c_in, c_out, input_conv=cfg.input_conv)


def _reads(cfg: LayersConfig, i: int) -> Iterator[tuple[int, int]]:
    """Every (channels read, filters) layer ``i`` may have."""
    if len(cfg.filters) == 1:
        f = cfg.stage_filters(cfg.stage(i))
        extra = range(max_skips(cfg, i) + 1) if cfg.combine == "concat" else range(1)
        yield from ((f * (1 + k), f) for k in extra)
        return
    own = (cfg.stem_filters,) if i == 0 else cfg.filters
    reachable = {(0, 0)}  # (skips taken, their channels): any set of distinct earlier sources
    if cfg.combine == "concat":
        for s in range(i):
            widths = (cfg.stem_filters,) if s == 0 else cfg.filters
            reachable |= {(n + 1, c + w) for n, c in reachable if n < max_skips(cfg, i) for w in widths}
    for c_own in own:
        for _, c_skips in sorted(reachable):
            for f in cfg.filters:
                yield c_own + c_skips, f


def latency_units(cfg: LayersConfig, choices: Mapping[str, Any] | None) -> list[LatencyUnit]:
    """Every unit any architecture runs (``choices=None``), or those of one architecture."""
    size = cfg.input_size
    stem = f"stem:{cfg.in_channels}>{cfg.stem_filters}{'+relu' if cfg.stem_relu else ''}"
    units = [_unit(stem, make_stem, cfg.in_channels, size, cfg, fixed=True)]
    for i in range(cfg.layers):
        layer_size = cfg.size(cfg.stage(i))
        if choices is None:
            units += [_op_unit(cfg, op, c_in, f, layer_size) for c_in, f in _reads(cfg, i) for op in cfg.ops]
        else:
            units.append(_op_unit(cfg, choices[op_name(i)], op_input_width(cfg, choices, i),
                                  layer_filters(cfg, choices, i), layer_size))
        if i in cfg.reductions:
            stage = cfg.stage(i)
            c_in, c_out = cfg.stage_filters(stage), cfg.stage_filters(stage + 1)
            count = 1 if choices is None else len(reduced_sources(cfg, choices, i))
            units += [_unit(f"fr:{c_in}>{c_out}:s2", FactorizedReduce, c_in, cfg.size(stage), c_in, c_out, 2,
                            relu=False)] * count  # one per source still read
    last_size = cfg.size(len(cfg.reductions))
    if choices is None:
        lasts = sorted(set(cfg.filters)) if len(cfg.filters) > 1 else [cfg.stage_filters(len(cfg.reductions))]
    else:
        lasts = [layer_filters(cfg, choices, cfg.layers - 1)]
    single = len(lasts) == 1 and len(cfg.filters) == 1
    for c in lasts:
        units.append(_unit(f"head:{c}>{cfg.num_classes}", make_head, c, last_size, c, cfg.num_classes, cfg.dropout,
                           fixed=single))
    if choices is None:  # the same module at the same shape is measured once
        units = list({u.key: u for u in units}.values())
    return units
