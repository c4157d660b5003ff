"""Measuring a network's latency table (``nasengine latency build --model``).

Every Conv2d / Linear is rebuilt at each kept fraction of a small grid of its input and
output channels (only along the axes that pruning changes) and timed on a random input of
its own input shape; the whole network is timed at a few uniform widths (the first
channels kept) in the same rounds, so a load change on the machine shifts both alike. The
rest term is fitted to the whole network's time minus the sum of its layers' times there.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from nasengine.compress.amc_layers import channel_shares
from nasengine.compress.graph import channel_groups, is_depthwise, trace_calls
from nasengine.compress.latency import PlanLatency, network_identity
from nasengine.compress.layers import PruningError, kept_channels
from nasengine.latency.grid import LayerGrid
from nasengine.latency.network import NetworkLatencyTable
from nasengine.utils.timing import Timing

#: Kept channel fractions each prunable axis of a layer is timed at.
GRID = (0.125, 0.25, 0.5, 0.75, 1.0)
#: Uniform widths the whole network is timed at to fit the rest term.
WIDTHS = (0.25, 0.5, 1.0)

Shaped = tuple[nn.Module, tuple[int, ...]]
TimeModules = Callable[[Sequence[Shaped]], list[float]]


def build_network_table(model: nn.Module, input_shape: Sequence[int], timing: Timing, *,
                        source: Mapping[str, Any] | None = None, fractions: Sequence[float] = GRID,
                        widths: Sequence[float] = WIDTHS, machine: dict[str, Any] | None = None,
                        progress: bool = False, time_modules: TimeModules | None = None) -> NetworkLatencyTable:
    """Time ``model``'s layers at reduced widths and fit the rest of the network.

    Args:
        model: The network (eval mode; left unchanged).
        input_shape: One input's shape ``(C, H, W)``.
        timing: Device, batch, threads, warm-up, repeats, clock.
        source: Where the network came from (stored for messages).
        fractions: Kept fractions of each axis (1.0 is always added).
        widths: Uniform preserve ratios the whole network is timed at (at least one).
        machine: The machine, stored with the table.
        progress: Show a progress bar.
        time_modules: ``[(module, input shape)] -> milliseconds`` (default: ``timing``'s).

    Raises:
        PruningError: A fraction or width outside (0, 1], or a network that cannot be traced.
    """
    for value in (*fractions, *widths):
        if not 0.0 < float(value) <= 1.0:
            raise PruningError(f"fractions and widths must be in (0, 1], got {value!r}")
    if not widths:
        raise PruningError("at least one width is needed to fit the rest of the network")
    if time_modules is None:
        def time_modules(modules: Sequence[Shaped]) -> list[float]:
            return timing.time_modules(modules, progress=progress, desc="layer latency")
    model = model.eval()
    x = torch.zeros(2, *input_shape, device=next((p.device for p in model.parameters()), torch.device("cpu")))
    _, groups = channel_groups(model, x)
    names = {module: name for name, module in model.named_modules()}
    outs, ins = channel_shares(groups, {g.info.name: k for k, g in enumerate(groups)}, names)
    calls = trace_calls(model, x)
    axes: dict[str, tuple[list[int], list[int], nn.Module, tuple[int, ...]]] = {}
    variants: list[Shaped] = []
    for module in sorted(calls, key=lambda m: calls[m].order):
        name = names[module]
        c_in, c_out = _sizes(module)
        in_counts = _counts(c_in, fractions) if name in ins and not is_depthwise(module) else [c_in]
        out_counts = _counts(c_out, fractions) if name in outs else [c_out]
        axes[name] = (in_counts, out_counts, module, calls[module].in_shape[1:])
        variants += [_resized(module, calls[module].in_shape[1:], i, o) for i in in_counts for o in out_counts]
    from nasengine.compress.prune import prune_to_ratios  # torch-pruning's pruner: only when building

    networks = [prune_to_ratios(model, x, {g.info.name: float(w) for g in groups}, selection="first")
                for w in widths]
    times = time_modules([*variants, *((net, tuple(input_shape)) for net in networks)])
    grids: dict[str, LayerGrid] = {}
    at = 0
    for name, (in_counts, out_counts, module, _) in axes.items():
        c_in, c_out = _sizes(module)
        n = len(in_counts) * len(out_counts)
        rows = [times[at + i * len(out_counts):at + (i + 1) * len(out_counts)] for i in range(len(in_counts))]
        grids[name] = LayerGrid.monotone([c / c_in for c in in_counts], [c / c_out for c in out_counts], rows)
        at += n
    identity = network_identity(model, input_shape, source)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    bare = NetworkLatencyTable(identity, timing, grids, 0.0, 0.0, machine=machine or {}, created=created)
    predict = PlanLatency(model, x, bare)
    plans = [{g.info.name: float(w) for g in groups} for w in widths]
    kept = [predict.kept(p) for p in plans]
    layer_sums = [predict.layers_ms(p) for p in plans]
    network_ms = times[at:]
    rest_ms, slope = _fit([m - s for m, s in zip(network_ms, layer_sums)], kept)
    calibration = {"widths": [float(w) for w in widths], "kept": kept, "network_ms": network_ms,
                   "layers_ms": layer_sums, "fractions": [float(f) for f in fractions]}
    return NetworkLatencyTable(identity, timing, grids, rest_ms, slope, min(kept), calibration, bare.machine, created)


def _fit(rest: Sequence[float], kept: Sequence[float]) -> tuple[float, float]:
    """``(a, b)`` of the least-squares line ``rest = a + b * kept`` with ``b >= 0`` (a falling
    fit is timing noise: then the largest rest, constant, which never under-predicts)."""
    n = len(rest)
    mean_k, mean_r = sum(kept) / n, sum(rest) / n
    spread = sum((k - mean_k) ** 2 for k in kept)
    slope = sum((k - mean_k) * (r - mean_r) for k, r in zip(kept, rest)) / spread if spread > 0 else 0.0
    if slope <= 0:
        return max(rest), 0.0
    return mean_r - slope * mean_k, slope


def _sizes(module: nn.Module) -> tuple[int, int]:
    if isinstance(module, nn.Conv2d):
        return int(module.in_channels), int(module.out_channels)
    return int(module.in_features), int(module.out_features)  # type: ignore[arg-type]


def _counts(channels: int, fractions: Sequence[float]) -> list[int]:
    return sorted({kept_channels(float(f), channels) for f in fractions} | {channels})


def _resized(module: nn.Module, in_shape: tuple[int, ...], c_in: int, c_out: int) -> Shaped:
    """A fresh copy of ``module``'s configuration with ``c_in`` / ``c_out`` channels (a
    depthwise convolution: ``c_out`` out, its inputs and groups following), and its input shape."""
    if isinstance(module, nn.Linear):
        return nn.Linear(c_in, c_out, bias=module.bias is not None), (*in_shape[:-1], c_in)
    assert isinstance(module, nn.Conv2d)
    groups = module.groups
    if is_depthwise(module):
        multiplier = module.out_channels // module.in_channels
        c_in = groups = max(1, c_out // multiplier)
        c_out = c_in * multiplier
    conv = nn.Conv2d(c_in, c_out, module.kernel_size, module.stride, module.padding,  # type: ignore[arg-type]
                     module.dilation, groups, bias=module.bias is not None, padding_mode=module.padding_mode)
    return conv, (c_in, *in_shape[1:])
