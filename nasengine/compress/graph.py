"""Torch-Pruning's dependency graph (DepGraph, Fang et al., CVPR 2023) seen as prunable
layers: which output channels of which layers must be removed together, in forward order.

A residual sum ties the channels of every layer that feeds it; a depthwise convolution or a
squeeze-excitation gate ties its channels to the layer before; a concatenation maps channel
indices into the layer after. The graph records all of this, so any torchvision or timm
network is pruned consistently without a tracer of our own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch_pruning as tp
from torch import nn

from nasengine.compress.layers import LayerInfo, PruningError
from nasengine.cost import layer_macs


@dataclass
class ChannelGroup:
    """A prunable group of a built dependency graph: its ``LayerInfo`` and the live modules."""

    info: LayerInfo
    root: nn.Module
    producers: list[nn.Module]
    #: ``(module, {root channel: [input channel indices of module]})`` for the layers
    #: (groups == 1 convolutions and linears) whose input channels shrink with the group.
    consumers: list[tuple[nn.Module, dict[int, list[int]]]]
    #: The same maps for every Conv2d / Linear whose output channels are the group's.
    outputs: list[tuple[nn.Module, dict[int, list[int]]]]


@dataclass
class _Call:
    order: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    macs: int


def example_tensor(model: nn.Module, example_input: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """``example_input`` as a tensor on the model's device (a shape gives zeros)."""
    if isinstance(example_input, torch.Tensor):
        return example_input
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return torch.zeros(tuple(example_input), device=device)


def trace_calls(model: nn.Module, x: torch.Tensor) -> dict[nn.Module, _Call]:
    """Each Conv2d / Linear's first call in one eval forward of ``x``: order, shapes, MACs per image."""
    calls: dict[nn.Module, _Call] = {}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if module not in calls:
            macs = layer_macs(module, inputs[0], output) // max(1, x.shape[0])
            calls[module] = _Call(len(calls), tuple(inputs[0].shape), tuple(output.shape), macs)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return calls


def build_graph(model: nn.Module, x: torch.Tensor) -> tp.DependencyGraph:
    was_training = model.training
    try:
        model.eval()
        return tp.DependencyGraph().build_dependency(model, example_inputs=x)
    except Exception as exc:  # noqa: BLE001 -- tracing failures come as many types
        raise PruningError(f"cannot trace the model's channel dependencies ({type(exc).__name__}: {exc})") from None
    finally:
        model.train(was_training)


def channel_groups(model: nn.Module, x: torch.Tensor, graph: tp.DependencyGraph | None = None,
                   ignored: Sequence[str] = ()) -> tuple[tp.DependencyGraph, list[ChannelGroup]]:
    """The prunable groups of ``model`` in forward order, with the graph they come from.

    Left out: the last executed Conv2d / Linear (the output layer: its channels are the
    model's outputs), layers named in ``ignored``, and groups holding a grouped convolution
    that is not depthwise (removing channels there must keep every group the same width,
    which a per-group channel count cannot promise).
    """
    calls = trace_calls(model, x)
    if not calls:
        raise PruningError("the model has no Conv2d or Linear layer to prune")
    graph = graph or build_graph(model, x)
    names = {module: name for name, module in model.named_modules()}
    last = max(calls, key=lambda m: calls[m].order)
    skip = [last, *(m for m in calls if names.get(m) in set(ignored))]
    out: list[ChannelGroup] = []
    for group in graph.get_all_groups(ignored_layers=skip, root_module_types=(nn.Conv2d, nn.Linear)):
        built = _group(group, calls, names, graph)
        if built is not None:
            out.append(built)
    out.sort(key=lambda g: calls[g.root].order)
    return graph, [ChannelGroup(_reindexed(g.info, i), g.root, g.producers, g.consumers, g.outputs)
                   for i, g in enumerate(out)]


def _reindexed(info: LayerInfo, index: int) -> LayerInfo:
    return LayerInfo(**{**info.__dict__, "index": index})


def _group(group: Any, calls: dict[nn.Module, _Call], names: dict[nn.Module, str],
           graph: tp.DependencyGraph) -> ChannelGroup | None:
    producers: list[nn.Module] = []
    consumers: list[tuple[nn.Module, dict[int, list[int]]]] = []
    outputs: list[tuple[nn.Module, dict[int, list[int]]]] = []
    residual = False
    for item in group.items:
        module, handler = item.dep.target.module, item.dep.handler
        if isinstance(module, tp.ops._ElementWiseOp) and "Add" in str(module._grad_fn):
            residual = True
        if not isinstance(module, (nn.Conv2d, nn.Linear)) or module not in calls:
            continue
        if isinstance(module, nn.Conv2d) and 1 < module.groups < module.in_channels:
            return None  # a grouped (not depthwise) convolution: see channel_groups
        mapping: dict[int, list[int]] = {}
        for idx, root in zip(item.idxs, item.root_idxs):
            mapping.setdefault(int(root), []).append(int(idx))
        if graph.is_out_channel_pruning_fn(handler):
            if module not in producers:
                producers.append(module)
                outputs.append((module, mapping))
        elif graph.is_in_channel_pruning_fn(handler) and not is_depthwise(module):
            consumers.append((module, mapping))
    if not producers:
        return None
    producers.sort(key=lambda m: calls[m].order)
    root = next((p for p in producers if not is_depthwise(p)), producers[0])
    info = _info(root, calls[root], names, [root, *(p for p in producers if p is not root)], consumers, residual)
    return ChannelGroup(info, root, producers, consumers, outputs)


def is_depthwise(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


def _info(root: nn.Module, call: _Call, names: dict[nn.Module, str], producers: list[nn.Module],
          consumers: list[tuple[nn.Module, dict[int, list[int]]]], residual: bool) -> LayerInfo:
    params = sum(p.numel() for p in root.parameters(recurse=False))
    if isinstance(root, nn.Conv2d):
        kind, size = "conv", tuple(call.out_shape[2:4])
        in_ch, out_ch, groups = root.in_channels, root.out_channels, root.groups
        kernel, stride = tuple(root.kernel_size), tuple(root.stride)
    else:
        kind, size, kernel, stride = "linear", (1, 1), (1, 1), (1, 1)
        in_ch, out_ch, groups = root.in_features, root.out_features, 1
    return LayerInfo(index=0, name=names[root], kind=kind, in_channels=in_ch, out_channels=out_ch,  # type: ignore[arg-type]
                     kernel=kernel, stride=stride, feature_size=size, macs=call.macs, params=params,  # type: ignore[arg-type]
                     groups=groups, depthwise=is_depthwise(root), coupled=tuple(names[p] for p in producers[1:]),
                     consumers=tuple(names[m] for m, _ in consumers), residual=residual)


def regroup(graph: tp.DependencyGraph, root: nn.Module, model: nn.Module, x: torch.Tensor) -> ChannelGroup | None:
    """The group of ``root`` as the (partly pruned) ``model`` is now; ``None`` if it is not prunable."""
    pruner = graph.get_pruner_of_module(root)
    channels = pruner.get_out_channels(root)
    group = graph.get_pruning_group(root, pruner.prune_out_channels, list(range(channels)))
    return _group(group, trace_calls(model, x), {m: n for n, m in model.named_modules()}, graph)


def prunable_layers(model: nn.Module, example_input: torch.Tensor | Sequence[int],
                    ignored: Sequence[str] = ()) -> list[LayerInfo]:
    """The layers whose output channels can be removed, one per coupled group, in forward order.

    Args:
        model: Any module taking one tensor (left unchanged).
        example_input: An input batch, or its shape (then zeros are used).
        ignored: Module names whose groups are not pruned.

    Raises:
        PruningError: The model cannot be traced or has no Conv2d / Linear layer.
    """
    x = example_tensor(model, example_input)
    return [g.info for g in channel_groups(model, x, ignored=ignored)[1]]
