"""Latency units of the SPOS ShuffleNet space (see ``SearchSpace.latency_units``).

The stem and the head (1x1 conv, pooling, classifier) are fixed. Every layer contributes
its chosen block wrapped in its ``ChoiceOp``, as ``build()`` runs it, keyed by option and
shape: equal layers of a stage share one measurement.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

from torch import nn

from nasengine.nn import ChoiceOp, conv_out_size
from nasengine.space import LatencyUnit
from search_spaces.shufflenet_blocks import make_block
from search_spaces.shufflenet_config import BLOCK_OPTIONS, ShuffleNetConfig, mid_channels


def latency_units(c: ShuffleNetConfig, layers: Sequence[tuple[int, int, int]], scales: Sequence[float],
                  stem: Callable[[], nn.Module], head: Callable[[], nn.Module],
                  chosen: Sequence[tuple[str, float]] | None = None) -> list[LatencyUnit]:
    """Stem, one block per layer (every option without ``chosen``), head.

    Args:
        c: The space's config.
        layers: ``(c_in, c_out, stride)`` per searchable layer.
        scales: Mid-channel scales a layer may take.
        stem: Builds the stem; head: builds the head (1x1 conv, pooling, classifier).
        chosen: ``(block option, scale)`` per layer of one architecture; None for all.
    """
    units = [LatencyUnit(f"stem:{c.in_channels}>{c.stem_channels}:s{c.stem_stride}:p{int(c.stem_pool)}:{c.input_size}",
                         stem, (c.in_channels, c.input_size, c.input_size), fixed=True)]
    size = conv_out_size(c.input_size, 3, c.stem_stride)
    if c.stem_pool:
        size = conv_out_size(size, 3, 2)
    seen: set[str] = set()
    for i, (c_in, c_out, stride) in enumerate(layers):
        options = [(o, s) for o in BLOCK_OPTIONS for s in scales] if chosen is None else [chosen[i]]
        for option, scale in options:
            mid = mid_channels(c_out, scale)
            key = f"{option}:{c_in}>{c_out}:m{mid}:s{stride}:{size}"
            if chosen is None and key in seen:
                continue
            seen.add(key)
            make = partial(_block, f"block{i}", option, c_in, c_out, mid, stride, c.bn_affine)
            units.append(LatencyUnit(key, make, (c_in, size, size)))
        size = conv_out_size(size, 3, stride)
    last = c.stage_channels[-1]
    units.append(LatencyUnit(f"head:{last}>{c.last_channels}>{c.num_classes}:{size}",
                             head, (last, size, size), fixed=True))
    return units


def _block(decision: str, option: str, c_in: int, c_out: int, mid: int, stride: int, affine: bool) -> nn.Module:
    block = make_block(option, in_channels=c_in, out_channels=c_out, mid=mid, stride=stride, affine=affine)
    return ChoiceOp(decision, {option: block})
