"""The compression methods of ``nasengine compress``: each turns a MACs limit into per-layer
preserve ratios and a pruned network. ``METHODS`` maps names to them; adding a method is one
entry (a ``Method`` with its ``run`` function).

Importing this module stays cheap (the CLI lists the methods): the pruning code, which
imports torch-pruning and with it timm, is imported when a method runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch
from torch import nn

from nasengine.compress.layers import LayerInfo, kept_channels
from nasengine.compress.limits import ratio_for_limit

if TYPE_CHECKING:
    from nasengine.compress.prune import Selection


@dataclass(frozen=True)
class Pruned:
    """What a method returns: the pruned network and the ratios it was pruned with."""

    model: nn.Module
    ratios: dict[str, float]


@dataclass(frozen=True)
class MethodInput:
    """Everything a method may use.

    Attributes:
        model: The source network (eval mode; not to be changed).
        example: An example input batch.
        limit: Most MACs per image the result may have.
        layers: ``prunable_layers(model, example)``.
        calibration: Input batches for feature-map sampling.
        seed: Seeds the method's random choices.
        score: Accuracy of a network on held-out data (validation images), for methods
            that search (AMC's reward); ``None`` where there is no data.
        workdir: A folder of the method's own (checkpoints of a search, so that an
            interrupted one resumes, and TensorBoard logs); ``None``: keep nothing.
        options: Method-specific settings (``--set key=value`` style), empty by default.
        progress: Show progress bars.
    """

    model: nn.Module
    example: torch.Tensor
    limit: int
    layers: Sequence[LayerInfo]
    calibration: Sequence[torch.Tensor]
    seed: int = 0
    score: Callable[[nn.Module], float] | None = None
    workdir: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = False


@dataclass(frozen=True)
class Method:
    """A compression method: ``run(MethodInput) -> Pruned``, a line for ``--help``, the
    names of the settings it reads from ``MethodInput.options`` (``--set``), and ``check``,
    which raises ``PruningError`` for a wrong setting before any work is done."""

    help: str
    run: Callable[[MethodInput], Pruned]
    options: tuple[str, ...] = ()
    check: Callable[[Mapping[str, Any]], None] | None = None


def macs_counter(task: MethodInput, pruned_layers: Callable[[LayerInfo], bool]) -> Callable[[float], int]:
    """MACs of the network with ratio ``r`` on the layers ``pruned_layers`` selects (cached
    per channel plan)."""
    from nasengine.compress.prune import pruned_cost  # torch-pruning imports timm: only when pruning

    cache: dict[tuple[int, ...], int] = {}

    def macs_at(ratio: float) -> int:
        ratios = uniform_ratios(task.layers, ratio, pruned_layers)
        plan = tuple(kept_channels(r, layer.out_channels) for layer, r in zip(task.layers, ratios.values()))
        if plan not in cache:
            cache[plan] = pruned_cost(task.model, task.example, ratios).macs
        return cache[plan]

    return macs_at


def uniform_ratios(layers: Sequence[LayerInfo], ratio: float, pruned_layers: Callable[[LayerInfo], bool]) -> dict[str, float]:
    """``ratio`` for the layers ``pruned_layers`` selects, 1.0 for the rest."""
    return {layer.name: ratio if pruned_layers(layer) else 1.0 for layer in layers}


def _every(layer: LayerInfo) -> bool:
    return True


def _off_shortcuts(layer: LayerInfo) -> bool:
    return not layer.residual


def _one_ratio(task: MethodInput, selection: Selection, pruned_layers: Callable[[LayerInfo], bool],
               reconstruct: bool) -> Pruned:
    from nasengine.compress.prune import prune_to_ratios

    ratio = ratio_for_limit(macs_counter(task, pruned_layers), task.limit)
    ratios = uniform_ratios(task.layers, ratio, pruned_layers)
    model = prune_to_ratios(task.model, task.example, ratios, selection=selection, calibration=task.calibration,
                            reconstruct=reconstruct, seed=task.seed)
    return Pruned(model, ratios)


def _uniform(task: MethodInput) -> Pruned:
    return _one_ratio(task, "first", _every, reconstruct=False)


def _l1(task: MethodInput) -> Pruned:
    return _one_ratio(task, "l1", _every, reconstruct=False)


def _lasso(task: MethodInput) -> Pruned:
    return _one_ratio(task, "lasso", _off_shortcuts, reconstruct=True)


def _amc(task: MethodInput) -> Pruned:
    from nasengine.compress.amc import run_amc  # imports this module: only when it runs

    return run_amc(task)


def _amc_check(options: Mapping[str, Any]) -> None:
    from nasengine.compress.amc import AmcSettings

    AmcSettings.from_options(options)


METHODS: dict[str, Method] = {
    "uniform": Method("one width multiplier for every layer; the first channels are kept", _uniform),
    "l1": Method("the width multiplier of uniform; channels with the largest L1 filter norms are kept", _l1),
    "lasso": Method("He et al. 2017: one preserve ratio for the layers off shortcuts; channels by LASSO, "
                    "next layers refit by least squares", _lasso),
    "amc": Method("He et al. 2018 (AMC): a DDPG agent picks each layer's preserve ratio off the shortcuts under "
                  "the limit, scored by validation accuracy; channels by L1, next layers refit by least squares",
                  _amc, options=("episodes", "warmup", "reward", "lbound", "round_to"), check=_amc_check),
}


def method_names() -> tuple[str, ...]:
    return tuple(METHODS)


__all__ = ["METHODS", "Method", "MethodInput", "Pruned", "macs_counter", "method_names", "uniform_ratios"]
