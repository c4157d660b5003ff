"""The compression methods of ``nasengine compress``: each turns a MACs limit into per-layer
preserve ratios and a pruned network. ``METHODS`` maps names to them; adding a method is one
entry (a ``Method`` with its ``run`` function).

Importing this module stays cheap (the CLI lists the methods): the pruning code, which
imports torch-pruning and with it timm, is imported when a method runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from nasengine.compress.layers import LayerInfo, PruningError, kept_channels
from nasengine.compress.limits import largest_ratio, ratio_for_limit
from nasengine.compress.method import Method, MethodInput, Pruned

if TYPE_CHECKING:
    from nasengine.compress.prune import Selection


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
    if task.latency is not None:
        ratio = min(ratio, _latency_ratio(task, pruned_layers))
    ratios = uniform_ratios(task.layers, ratio, pruned_layers)
    model = prune_to_ratios(task.model, task.example, ratios, selection=selection, calibration=task.calibration,
                            reconstruct=reconstruct, seed=task.seed)
    return Pruned(model, ratios)


def _latency_ratio(task: MethodInput, pruned_layers: Callable[[LayerInfo], bool], floor: float = 1e-3) -> float:
    """The largest preserve ratio of the layers ``pruned_layers`` selects whose predicted
    latency meets ``task.latency`` (bisection: the prediction rises with the ratio)."""
    latency = task.latency
    assert latency is not None

    def fits(ratio: float) -> bool:
        return latency.fits(uniform_ratios(task.layers, ratio, pruned_layers))

    if not fits(floor):
        smallest = latency.predict(uniform_ratios(task.layers, floor, pruned_layers))
        raise PruningError(f"--max-latency-ms {latency.limit_ms:.4g} ms cannot be met: with one channel left in each "
                           f"layer this method prunes, it is still {smallest:.4g} ms predicted")
    return largest_ratio(fits, floor=floor)


def _uniform(task: MethodInput) -> Pruned:
    return _one_ratio(task, "first", _every, reconstruct=False)


def _l1(task: MethodInput) -> Pruned:
    return _one_ratio(task, "l1", _every, reconstruct=False)


def _lasso(task: MethodInput) -> Pruned:
    return _one_ratio(task, "lasso", _off_shortcuts, reconstruct=True)


def _amc(task: MethodInput) -> Pruned:
    from nasengine.compress.amc import run_amc  # imports torch-pruning: only when it runs

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
