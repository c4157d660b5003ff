"""Physically smaller networks: ``prune_to_ratios`` removes output channels group by group,
in forward order, choosing them by a criterion and optionally refitting the next layers.

Channel criteria:

* ``first``: keep the first channels (a width multiplier, as slimmable networks slice).
* ``l1``: keep the channels whose filters have the largest L1 norm, summed over the
  group's layers (Li et al. 2017; AMC's choice of channels).
* ``lasso``: He et al. (2017), see ``nasengine.compress.lasso``.

``reconstruct=True`` refits each consumer's weights on the kept channels by least squares
from sampled feature maps (He et al.; AMC does the same for the next layer).
"""

from __future__ import annotations

import copy
from typing import Callable, Iterable, Literal, Mapping, Sequence

import torch
import torch_pruning as tp
from torch import nn

from nasengine.compress.features import sample_features
from nasengine.compress.graph import ChannelGroup, PruningError, channel_groups, example_tensor, regroup
from nasengine.compress.lasso import LASSO_POINTS, contributions_gram, gather_channels, lasso_select, least_squares
from nasengine.compress.layers import kept_channels
from nasengine.cost import Cost, trace_cost

#: Pull of the least-squares refit towards the layer's trained weights (relative to the
#: inputs' scale): enough to keep deep layers, which see few positions per image, from
#: fitting the samples with weights tens of times the trained ones, small enough that the
#: refit still removes most of the pruning's feature-map error.
REFIT_RIDGE = 1e-3

Selection = Literal["first", "l1", "lasso"]
SELECTIONS: tuple[str, ...] = ("first", "l1", "lasso")


def prune_to_ratios(model: nn.Module, example_input: torch.Tensor | Sequence[int], ratios: Mapping[str, float], *,
                    selection: Selection = "l1", calibration: Iterable[torch.Tensor] | None = None,
                    reconstruct: bool = False, ignored: Sequence[str] = (), seed: int = 0) -> nn.Module:
    """A pruned deep copy of ``model`` (in eval mode); ``model`` is left unchanged.

    Args:
        model: The source network.
        example_input: An input batch or its shape, to trace the network.
        ratios: ``{layer name: preserve ratio in (0, 1]}`` for names of ``prunable_layers``;
            a missing layer keeps all its channels. Layer ``name`` keeps
            ``kept_channels(ratio, out_channels)`` channels.
        selection: ``"first"``, ``"l1"`` or ``"lasso"`` (needs ``calibration``).
        calibration: Input batches whose feature maps LASSO and reconstruction sample.
        reconstruct: Refit the consumers of every pruned group by least squares (needs ``calibration``).
        ignored: Module names whose groups are never pruned.
        seed: Seeds the sampled positions.

    Raises:
        PruningError: Unknown layer names, a ratio outside (0, 1], or calibration missing.
    """
    return _prune(model, example_input, ratios, lambda ratio, channels: kept_channels(float(ratio), channels),
                  selection=selection, calibration=calibration, reconstruct=reconstruct, ignored=ignored, seed=seed)


def prune_to_channels(model: nn.Module, example_input: torch.Tensor | Sequence[int], channels: Mapping[str, int], *,
                      selection: Selection = "l1", calibration: Iterable[torch.Tensor] | None = None,
                      reconstruct: bool = False, ignored: Sequence[str] = (), seed: int = 0) -> nn.Module:
    """``prune_to_ratios`` with channel counts: layer ``name`` keeps ``channels[name]`` (1 to its
    ``out_channels``) of its output channels. Rebuilding a saved pruned network uses it."""
    return _prune(model, example_input, channels, _count, selection=selection, calibration=calibration,
                  reconstruct=reconstruct, ignored=ignored, seed=seed)


def pruned_cost(model: nn.Module, example_input: torch.Tensor | Sequence[int], ratios: Mapping[str, float], *,
                ignored: Sequence[str] = ()) -> Cost:
    """MACs per image and parameters of ``model`` pruned to ``ratios`` (channel counts alone
    decide them, so the first channels are kept and nothing is sampled)."""
    x = example_tensor(model, example_input)
    pruned = prune_to_ratios(model, x, ratios, selection="first", ignored=ignored)
    return trace_cost(pruned, (1, *x.shape[1:]))


def _count(wanted: float, channels: int) -> int:
    if isinstance(wanted, bool) or not isinstance(wanted, int) or not 1 <= wanted <= channels:
        raise PruningError(f"a channel count must be an integer from 1 to {channels}, got {wanted!r}")
    return wanted


def _prune(model: nn.Module, example_input: torch.Tensor | Sequence[int], requested: Mapping[str, float],
           to_count: Callable[[float, int], int], *, selection: Selection, calibration: Iterable[torch.Tensor] | None,
           reconstruct: bool, ignored: Sequence[str], seed: int) -> nn.Module:
    if selection not in SELECTIONS:
        raise PruningError(f"unknown channel selection {selection!r}; choose from {', '.join(SELECTIONS)}")
    batches = list(calibration) if calibration is not None else None
    if (selection == "lasso" or reconstruct) and not batches:
        raise PruningError("LASSO selection and reconstruction need calibration batches")
    pruned = copy.deepcopy(model).eval()
    x = example_tensor(pruned, example_input)
    graph, groups = channel_groups(pruned, x, ignored=ignored)
    by_name = {g.info.name: g for g in groups}
    unknown = sorted(set(requested) - set(by_name))
    if unknown:
        raise PruningError(f"not prunable layer(s) {unknown[:5]}; prunable: {', '.join(list(by_name)[:8])}"
                           f"{' ...' if len(by_name) > 8 else ''}")
    plan = {name: to_count(wanted, by_name[name].info.out_channels) for name, wanted in requested.items()}
    todo = [g for g in groups if plan.get(g.info.name, g.info.out_channels) < g.info.out_channels]
    targets: dict[str, torch.Tensor] = {}
    if batches and (selection == "lasso" or reconstruct):
        pruned_names = {module: name for name, module in pruned.named_modules()}
        consumers = {pruned_names[m]: m for g in todo for m, _ in g.consumers}
        source = dict(model.named_modules())
        targets = sample_features(model, {n: source[n] for n in consumers}, batches, inputs=False, seed=seed)
    names = {module: name for name, module in pruned.named_modules()}
    # source output channels each pruned layer still has, to read the source's targets
    survivors: dict[str, list[int]] = {}
    for group in todo:
        # Sampling needs the consumers' channel maps as they are now; choosing by magnitude does not.
        current = _refreshed(graph, group, pruned, x) if targets else group
        keep = plan[group.info.name]
        patches = (sample_features(pruned, {names[m]: m for m, _ in current.consumers}, batches, inputs=True, seed=seed)
                   if batches and (selection == "lasso" or reconstruct) else {})
        now = {n: t[:, survivors[n]] if n in survivors else t for n, t in targets.items()}
        kept = _select(current, keep, selection, patches, now, names)
        removed = sorted(set(range(_out_channels(current.root))) - set(kept))
        pruner = graph.get_pruner_of_module(current.root)
        graph.get_pruning_group(current.root, pruner.prune_out_channels, removed).prune()
        for module, mapping in current.outputs if targets else ():
            name = names[module]
            old = survivors.get(name, list(range(_out_channels(module) + len(removed))))
            survivors[name] = [old[i] for i in sorted(i for root in kept for i in mapping.get(root, []))]
        if reconstruct:
            for module, mapping in current.consumers:
                name = names[module]
                target = targets[name][:, survivors[name]] if name in survivors else targets[name]
                _refit(module, mapping, kept, patches[name], target)
    return pruned


def _refreshed(graph: tp.DependencyGraph, group: ChannelGroup, model: nn.Module, x: torch.Tensor) -> ChannelGroup:
    """``group`` with its consumers' channel maps as they are now (earlier groups may have
    shifted indices inside a concatenation)."""
    built = regroup(graph, group.root, model, x)
    if built is None:
        raise PruningError(f"layer {group.info.name!r} is no longer prunable after pruning the layers before it")
    return ChannelGroup(group.info, group.root, built.producers, built.consumers, built.outputs)


def _out_channels(module: nn.Module) -> int:
    return module.out_channels if isinstance(module, nn.Conv2d) else module.out_features  # type: ignore[return-value]


def _select(group: ChannelGroup, keep: int, selection: str, patches: Mapping[str, torch.Tensor],
            targets: Mapping[str, torch.Tensor], names: Mapping[nn.Module, str]) -> list[int]:
    channels = _out_channels(group.root)
    if selection == "first":
        return list(range(keep))
    if selection == "lasso" and group.consumers:
        return _lasso(group, keep, channels, patches, targets, names)
    return l1_ranking(group)[:keep]


def l1_ranking(group: ChannelGroup) -> list[int]:
    """Root channels by decreasing L1 norm of their filters, summed over the group's layers
    with as many output channels as the root (ties: lower index first)."""
    channels = _out_channels(group.root)
    score = torch.zeros(channels, dtype=torch.float64)
    for layer in group.producers:
        weight = layer.weight.detach()
        if weight.shape[0] == channels:
            score += weight.abs().reshape(channels, -1).sum(dim=1).double().cpu()
    order = sorted(range(channels), key=lambda i: (-float(score[i]), i))
    return order


def _lasso(group: ChannelGroup, keep: int, channels: int, patches: Mapping[str, torch.Tensor],
           targets: Mapping[str, torch.Tensor], names: Mapping[nn.Module, str]) -> list[int]:
    gram, q = 0.0, 0.0
    for module, mapping in group.consumers:
        name = names[module]
        rows = patches[name]
        pick = torch.linspace(0, rows.shape[0] - 1, min(LASSO_POINTS, rows.shape[0])).long()
        weight = module.weight.detach().float().cpu()
        weight = weight.reshape(weight.shape[0], weight.shape[1], -1)
        target = targets[name][pick] - (module.bias.detach().float().cpu() if module.bias is not None else 0.0)
        g, b = contributions_gram(rows[pick], weight, target, mapping, channels)
        gram, q = gram + g, q + b
    return lasso_select(gram, q, keep)  # type: ignore[arg-type]


def _refit(module: nn.Module, mapping: Mapping[int, list[int]], kept: Sequence[int], patches: torch.Tensor,
           target: torch.Tensor) -> None:
    """Least squares for ``module``'s weights on the inputs that remain (in their order)."""
    grouped = {i for ids in mapping.values() for i in ids}
    kept_inputs = {i for root in kept for i in mapping.get(root, [])}
    # inputs outside this group (other parts of a concatenation) stay
    columns = sorted(kept_inputs | (set(range(patches.shape[1])) - grouped))
    prior = (module.weight.detach().float().cpu().reshape(module.weight.shape[0], -1),
             None if module.bias is None else module.bias.detach().float().cpu())
    weight, bias = least_squares(gather_channels(patches, columns), target, bias=module.bias is not None,
                                 prior=prior, ridge=REFIT_RIDGE)
    with torch.no_grad():
        module.weight.copy_(weight.reshape(module.weight.shape).to(module.weight))
        if bias is not None:
            module.bias.copy_(bias.to(module.bias))
