"""Latency units of the SPOS ShuffleNet space (see ``SearchSpace.latency_units``).

The stem and the head (1x1 conv, pooling, classifier) are fixed. Every layer contributes
its chosen block wrapped in its ``ChoiceOp``, as ``build()`` runs it, keyed by option and
shape: equal layers of a stage share one measurement.
"""

from __future__ import annotations

from functools import partial

from torch import nn

from nasengine.arch import Arch
from nasengine.nn import ChoiceOp
from nasengine.space import LatencyUnit
from search_spaces.shufflenet import BLOCK_OPTIONS, ShuffleNetSpace, _conv_out, mid_channels
from search_spaces.shufflenet_blocks import make_block


def latency_units(space: ShuffleNetSpace, arch: Arch | None = None) -> list[LatencyUnit]:
    """Stem, one block per layer (every option without ``arch``), head."""
    c = space.config
    units = [LatencyUnit(f"stem:{c.in_channels}>{c.stem_channels}:s{c.stem_stride}:p{int(c.stem_pool)}:{c.input_size}",
                         space._stem, (c.in_channels, c.input_size, c.input_size), fixed=True)]
    size = _conv_out(c.input_size, 3, c.stem_stride)
    if c.stem_pool:
        size = _conv_out(size, 3, 2)
    seen: set[str] = set()
    for i, (c_in, c_out, stride) in enumerate(space.layers):
        if arch is None:
            options = [(o, s) for o in BLOCK_OPTIONS for s in space.scales]
        else:
            options = [space.layer_choice(arch, i)]
        for option, scale in options:
            mid = mid_channels(c_out, scale)
            key = f"{option}:{c_in}>{c_out}:m{mid}:s{stride}:{size}"
            if arch is None and key in seen:
                continue
            seen.add(key)
            make = partial(_block, f"block{i}", option, c_in, c_out, mid, stride, c.bn_affine)
            units.append(LatencyUnit(key, make, (c_in, size, size)))
        size = _conv_out(size, 3, stride)
    last = c.stage_channels[-1]
    units.append(LatencyUnit(f"head:{last}>{c.last_channels}>{c.num_classes}:{size}",
                             partial(space._net, None, stem=False), (last, size, size), fixed=True))
    return units


def _block(decision: str, option: str, c_in: int, c_out: int, mid: int, stride: int, affine: bool) -> nn.Module:
    block = make_block(option, in_channels=c_in, out_channels=c_out, mid=mid, stride=stride, affine=affine)
    return ChoiceOp(decision, {option: block})
