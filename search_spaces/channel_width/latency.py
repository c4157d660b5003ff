"""Latency units of the channel-width space (see ``SearchSpace.latency_units``).

A unit is one layer (conv + BN + activation as ``build()`` makes it, or pooling and the
classifier) keyed by its input and output channel counts, kernel, stride and resolution:
a width decision changes the layer that produces it and the layer that reads it, so each
layer is measured for every (input width, output width) pair. Residual adds are glue.
Layers whose widths no decision controls are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.nn import ElasticLinear, conv_out_size
from nasengine.space import LatencyUnit
from search_spaces.channel_width import mobilenet_v2
from search_spaces.channel_width.common import CLASSES, INPUT, Resolver, Width, bn, conv


@dataclass(frozen=True)
class Layer:
    """One timed layer: its kind (key prefix), width slots, kernel (a size or a kernel
    slot), stride, input size and builder (called with a resolver that sizes ``cin``,
    ``cout`` and a kernel slot)."""

    kind: str
    cin: str
    cout: str
    k: int | str
    stride: int
    size: int
    make: Callable[[Resolver], nn.Module]


class PoolClassifier(nn.Module):
    """Global average pooling, flatten, then the classifier (the end of both networks)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _seq(*parts: nn.Module) -> nn.Sequential:
    return nn.Sequential(*parts)


def mobilenet_v2_layers(blocks: list[mobilenet_v2.IRBlock], input_size: int) -> list[Layer]:
    cbr = mobilenet_v2.ConvBNAct
    layers = [Layer("cbr6", INPUT, "stem", 3, 2, input_size, lambda w: cbr(w(INPUT), w("stem"), 3, 2))]
    hw = conv_out_size(input_size, 3, 2, 1)
    for b in blocks:
        hw_out = conv_out_size(hw, 3, b.stride, 1)
        if b.expand:
            layers.append(Layer("cbr6", b.cin, b.hidden, 1, 1, hw, partial(_expand, b)))
        layers.append(Layer("dw6", b.hidden, b.hidden, 3, b.stride, hw, partial(_depthwise, b)))
        layers.append(Layer("cb", b.hidden, b.cout, 1, 1, hw_out, partial(_project, b)))
        hw = hw_out
    last = blocks[-1].cout
    layers.append(Layer("cbr6", last, "last", 1, 1, hw, lambda w: cbr(w(last), w("last"), 1)))
    layers.append(Layer("fc", "last", CLASSES, 1, 1, hw, lambda w: PoolClassifier(
        _seq(nn.Dropout(0.2), ElasticLinear(w("last").channels, w(CLASSES).channels)))))
    return layers


def _expand(b: mobilenet_v2.IRBlock, w: Resolver) -> nn.Module:
    return mobilenet_v2.ConvBNAct(w(b.cin), w(b.hidden), 1)


def _depthwise(b: mobilenet_v2.IRBlock, w: Resolver) -> nn.Module:
    return mobilenet_v2.ConvBNAct(w(b.hidden), w(b.hidden), 3, b.stride, depthwise=True)


def _project(b: mobilenet_v2.IRBlock, w: Resolver) -> nn.Module:
    return _seq(conv(w(b.hidden), w(b.cout), 1), bn(w(b.cout)))


def resnet_layers(blocks: list, input_size: int, *, bottleneck: bool) -> list[Layer]:
    relu = partial(nn.ReLU, inplace=True)
    if bottleneck:  # 7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool
        layers = [Layer("stem7", INPUT, "stem", 7, 2, input_size, lambda w: _seq(
            conv(w(INPUT), w("stem"), 7, 2), bn(w("stem")), relu(), nn.MaxPool2d(3, 2, 1)))]
        hw = conv_out_size(conv_out_size(input_size, 7, 2, 3), 3, 2, 1)
    else:
        layers = [Layer("cbr", INPUT, "stem", 3, 1, input_size, lambda w: _seq(
            conv(w(INPUT), w("stem"), 3), bn(w("stem")), relu()))]
        hw = input_size
    for b in blocks:
        hw_out = conv_out_size(hw, 3, b.stride, 1)
        k = b.kernels
        if bottleneck:
            layers.append(Layer("cbr", b.cin, b.mid, 1, 1, hw, partial(_cbr, b.cin, b.mid, 1, 1)))
            layers.append(Layer("cbr", b.mid, b.mid, k[0], b.stride, hw, partial(_cbr, b.mid, b.mid, k[0], b.stride)))
            layers.append(Layer("cb", b.mid, b.cout, 1, 1, hw_out, partial(_cb, b.mid, b.cout, 1, 1)))
        else:
            layers.append(Layer("cbr", b.cin, b.mid, k[0], b.stride, hw, partial(_cbr, b.cin, b.mid, k[0], b.stride)))
            layers.append(Layer("cb", b.mid, b.cout, k[1], 1, hw_out, partial(_cb, b.mid, b.cout, k[1], 1)))
        if b.downsample:
            layers.append(Layer("cb", b.cin, b.cout, 1, b.stride, hw, partial(_cb, b.cin, b.cout, 1, b.stride)))
        hw = hw_out
    last = blocks[-1].cout
    layers.append(Layer("fc", last, CLASSES, 1, 1, hw, lambda w: PoolClassifier(
        ElasticLinear(w(last).channels, w(CLASSES).channels))))
    return layers


def _kernel(k: int | str, w: Resolver) -> int | Width:
    return w(k) if isinstance(k, str) else k


def _cb(cin: str, cout: str, k: int | str, stride: int, w: Resolver) -> nn.Module:
    return _seq(conv(w(cin), w(cout), _kernel(k, w), stride), bn(w(cout)))


def _cbr(cin: str, cout: str, k: int | str, stride: int, w: Resolver) -> nn.Module:
    return _seq(conv(w(cin), w(cout), _kernel(k, w), stride), bn(w(cout)), nn.ReLU(inplace=True))


def latency_units(layers: list[Layer], resolver: Callable[[Mapping[str, int] | None], Resolver],
                  n_options: Mapping[str, int], picked: Mapping[str, int] | None = None) -> list[LatencyUnit]:
    """Every layer at every combination of its searched widths and kernel, or at the
    ``picked`` option indices.

    Args:
        layers: The backbone's timed layers.
        resolver: Resolver for option indices per searched slot.
        n_options: Options of every searched slot (width or kernel); other slots are fixed.
        picked: Option index per searched slot of one architecture; None for every combination.
    """
    units: list[LatencyUnit] = []
    seen: set[str] = set()
    for layer in layers:
        for combo in _combos(layer, n_options, picked):
            width = resolver(combo)
            c_in, c_out = width(layer.cin).channels, width(layer.cout).channels
            k = width(layer.k).channels if isinstance(layer.k, str) else layer.k
            key = f"{layer.kind}:{c_in}>{c_out}:k{k}:s{layer.stride}:{layer.size}"
            if picked is None and key in seen:
                continue
            seen.add(key)
            shape = (c_in, layer.size, layer.size)
            is_fixed = not any(s in n_options for s in (layer.cin, layer.cout, layer.k))
            units.append(LatencyUnit(key, partial(layer.make, width), shape, fixed=is_fixed))
    return units


def _combos(layer: Layer, n_options: Mapping[str, int], picked: Mapping[str, int] | None) -> list[dict[str, int]]:
    """Option indices of the layer's searched slots: the arch's, or every combination."""
    slots = [s for s in dict.fromkeys((layer.cin, layer.cout, layer.k)) if isinstance(s, str) and s in n_options]
    if picked is not None:
        return [{s: picked[s] for s in slots}]
    combos: list[dict[str, int]] = [{}]
    for s in slots:
        combos = [{**c, s: i} for c in combos for i in range(n_options[s])]
    return combos
