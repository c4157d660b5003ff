"""A network's prunable layers as AMC's environment sees them: ``PrunableLayer``s in forward
order and a ``ChannelCost`` whose MACs follow the real pruned network.

Every Conv2d / Linear ``M`` costs ``macs(M) * out(M) * in(M)``, where ``out`` and ``in`` are
the fractions of its output and input channels that remain: a sum over the channel groups
that own them (``r_k`` times the group's share of ``M``'s channels, from Torch-Pruning's
index maps) plus the share no decided group owns. A depthwise convolution costs
``macs * out`` alone. Expanded, the network's MACs are a constant, a term per group that
scales with its ratio, and a term per pair of groups that scales with both ratios.

``ChannelCost`` gives each layer one partner, ``input_from``: the earlier group it shares
the most MACs with. A chain of layers (a plain CNN, the layers off the shortcuts of a
ResNet or MobileNet) is then modelled exactly. Terms it cannot hold (a second partner, a
layer reading and writing the same group) are bounded from above with the other ratio at
1, and MACs of operations outside Conv2d / Linear modules are held constant, so the model
never counts fewer MACs than the pruned network has and a policy within the limit of the
model is within the real limit (``exact`` says whether the bound was needed).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from nasengine.compress.graph import ChannelGroup, channel_groups, is_depthwise, trace_calls
from nasengine.compress.layers import LayerInfo, PruningError
from nasengine.cost import count_cost
from nasengine.layer_policy import ChannelCost, PrunableLayer

#: Shares of a layer's channels: the group index that owns them (``None``: no decided group).
_Shares = dict[int | None, float]


@dataclass(frozen=True)
class PolicyLayers:
    """The layers an AMC policy decides and their MACs model.

    Attributes:
        infos: The decided layers (``LayerInfo``), in decision (forward) order.
        cost: Their ``ChannelCost``; ``cost.layers[k]`` describes ``infos[k]``.
        exact: Whether ``cost`` equals the pruned network's MACs for every policy (else it
            is an upper bound).
    """

    infos: tuple[LayerInfo, ...]
    cost: ChannelCost
    exact: bool


def policy_layers(model: nn.Module, example: torch.Tensor, decided: Sequence[LayerInfo]) -> PolicyLayers:
    """The ``PrunableLayer``s and the MACs model of ``decided`` (a subset of
    ``prunable_layers(model, example)``, in its order); the other groups keep all channels.

    Raises:
        PruningError: ``decided`` is empty or names a layer that is not prunable.
    """
    if not decided:
        raise PruningError("no layer to decide: the model has no prunable layer off the shortcuts")
    _, groups = channel_groups(model, example)
    by_name = {g.info.name: g for g in groups}
    missing = [info.name for info in decided if info.name not in by_name]
    if missing:
        raise PruningError(f"not prunable layer(s) {missing[:5]}")
    index = {info.name: k for k, info in enumerate(decided)}
    calls = trace_calls(model, example)
    names = {module: name for name, module in model.named_modules()}
    outs, ins = channel_shares([by_name[info.name] for info in decided], index, names)
    fixed = 0.0
    linear: dict[int, float] = defaultdict(float)
    pairs: dict[tuple[int, int], float] = defaultdict(float)
    exact = True
    for module, call in calls.items():
        name = names[module]
        out_shares = outs.get(name, {None: 1.0})
        in_shares = {None: 1.0} if is_depthwise(module) else ins.get(name, {None: 1.0})
        for k, o in out_shares.items():
            for j, i in in_shares.items():
                w = call.macs * o * i
                if k is None:
                    if j is None:
                        fixed += w
                    else:
                        linear[j] += w
                elif j is None or j == k:  # r_k * r_k <= r_k: an upper bound
                    linear[k] += w
                    exact = exact and j is None
                else:
                    pairs[(min(j, k), max(j, k))] += w
    total = count_cost(model, (1, *example.shape[1:])).macs
    remainder = total - fixed - sum(linear.values()) - sum(pairs.values())
    if abs(remainder) > 1e-6 * total:  # MACs outside Conv2d / Linear modules (or a second call): held at their full count
        fixed += max(0.0, remainder)
        exact = False
    modules = dict(model.named_modules())
    layers = []
    for k, info in enumerate(decided):
        partners = {j: w for (j, k2), w in pairs.items() if k2 == k}
        source = max(partners, key=lambda j: (partners[j], -j)) if partners else None
        follow = linear[k] + sum(w for j, w in partners.items() if j != source)
        exact = exact and len(partners) <= 1
        call = calls[modules[info.name]]
        pixels = call.in_shape[2] * call.in_shape[3] if len(call.in_shape) == 4 else 1
        layers.append(PrunableLayer(index=k, in_channels=info.in_channels, out_channels=info.out_channels,
                                    kernel=info.kernel[0], stride=info.stride[0], feature_size=pixels,
                                    macs=partners[source] if source is not None else 0.0,
                                    params=float(info.params), input_from=source, follow_macs=follow))
    return PolicyLayers(tuple(decided), ChannelCost(layers, fixed_macs=fixed), exact)


def channel_shares(groups: Sequence[ChannelGroup], index: dict[str, int],
            names: dict[nn.Module, str]) -> tuple[dict[str, _Shares], dict[str, _Shares]]:
    """For each layer's name, the shares of its output and input channels each decided
    group owns (the rest under ``None``)."""
    outs: dict[str, _Shares] = {}
    ins: dict[str, _Shares] = {}
    for group in groups:
        k = index[group.info.name]
        for table, maps, size in ((outs, group.outputs, _out_size), (ins, group.consumers, _in_size)):
            for module, mapping in maps:
                count = sum(len(ids) for ids in mapping.values())
                shares = table.setdefault(names[module], {None: 1.0})
                share = count / size(module)
                shares[k] = shares.get(k, 0.0) + share
                shares[None] -= share
    for table in (outs, ins):
        for shares in table.values():
            if abs(shares[None]) < 1e-12:
                del shares[None]
    return outs, ins


def _out_size(module: nn.Module) -> int:
    return int(module.out_channels if isinstance(module, nn.Conv2d) else module.out_features)  # type: ignore[arg-type]


def _in_size(module: nn.Module) -> int:
    return int(module.in_channels if isinstance(module, nn.Conv2d) else module.in_features)  # type: ignore[arg-type]
