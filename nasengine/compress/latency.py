"""Predicted latency of a pruning plan from a network's latency table
(``nasengine.latency.network``), and the latency limit the methods meet.

A plan keeps ``kept_channels(r_k, C_k)`` channels of each prunable group ``k``. Each Conv2d /
Linear then keeps, of its output and of its input channels, the share no group owns plus
each owning group's share times that group's kept fraction (Torch-Pruning's index maps, as
in AMC's MACs model, ``amc_layers.channel_shares``); a depthwise convolution's input is its
output. Its time is its grid at those two fractions; the network's is the sum over its
layers plus the table's rest term at the plan's kept share of the prunable activations.
Every term rises with every ratio, so the prediction does too.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from nasengine.compress.amc_layers import channel_shares
from nasengine.compress.graph import channel_groups, example_tensor, is_depthwise, trace_calls
from nasengine.compress.layers import LayerInfo, PruningError, kept_channels
from nasengine.latency.network import NetworkLatencyTable

#: Keys of a source description that do not change the network's structure.
_NOT_STRUCTURE = ("weights", "path")


def network_identity(model: nn.Module, input_shape: Sequence[int],
                     source: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a latency table is valid for: a hash of ``model``'s modules and of each Conv2d /
    Linear's configuration and input shape, the input shape, and (for messages) ``source``
    without its weights."""
    x = torch.zeros(1, *input_shape, device=next((p.device for p in model.parameters()), torch.device("cpu")))
    calls = trace_calls(model, x)
    parts: list[Any] = [[name, type(m).__name__] for name, m in model.named_modules()]
    for name, module in model.named_modules():
        if module in calls:
            config = {k: getattr(module, k) for k in ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                                                       "dilation", "groups", "in_features", "out_features")
                      if hasattr(module, k)}
            parts.append([name, repr(sorted(config.items())), list(calls[module].in_shape[1:])])
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]
    described = {k: v for k, v in (source or {}).items() if k not in _NOT_STRUCTURE}
    return {"structure": digest, "input_shape": list(input_shape), "source": described}


class PlanLatency:
    """Predicted milliseconds of ``model`` pruned to a plan, from ``table``.

    Args:
        model: The source network the table was measured for.
        example: An example input batch (or its shape).
        table: Its latency table (``check`` it first: this only requires an entry per layer).

    Raises:
        ValueError: The table has no grid for one of the network's Conv2d / Linear modules.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor | Sequence[int], table: NetworkLatencyTable) -> None:
        x = example_tensor(model, example)
        _, groups = channel_groups(model, x)
        self.table = table
        self.layers: tuple[LayerInfo, ...] = tuple(g.info for g in groups)
        names = {module: name for name, module in model.named_modules()}
        outs, ins = channel_shares(groups, {info.name: k for k, info in enumerate(self.layers)}, names)
        calls = trace_calls(model, x)
        self._modules = []
        for module in sorted(calls, key=lambda m: calls[m].order):
            name = names[module]
            if name not in table.layers:
                raise ValueError(f"the latency table has no entry for layer {name!r}; rebuild it for this network")
            self._modules.append((name, outs.get(name, {None: 1.0}),
                                  None if is_depthwise(module) else ins.get(name, {None: 1.0})))
        activations = [info.out_channels * info.feature_size[0] * info.feature_size[1] for info in self.layers]
        total = float(sum(activations)) or 1.0
        self._weights = [a / total for a in activations]

    def fractions(self, ratios: Mapping[str, float]) -> list[float]:
        """The kept fraction of each prunable group (``ratios`` by layer name; missing: 1.0)."""
        unknown = sorted(set(ratios) - {info.name for info in self.layers})
        if unknown:
            raise PruningError(f"not prunable layer(s) {unknown[:5]}")
        return [kept_channels(float(ratios.get(info.name, 1.0)), info.out_channels) / info.out_channels
                for info in self.layers]

    def layer_fractions(self, ratios: Mapping[str, float]) -> dict[str, tuple[float, float]]:
        """``{module name: (kept input fraction, kept output fraction)}`` under the plan."""
        kept = self.fractions(ratios)

        def share(shares: dict[int | None, float]) -> float:
            return sum(s * (1.0 if k is None else kept[k]) for k, s in shares.items())

        result = {}
        for name, out_shares, in_shares in self._modules:
            out = share(out_shares)
            result[name] = (out if in_shares is None else share(in_shares), out)
        return result

    def kept(self, ratios: Mapping[str, float]) -> float:
        """The plan's kept share of the prunable groups' output activations (the rest term's variable)."""
        return sum(w * f for w, f in zip(self._weights, self.fractions(ratios)))

    def layers_ms(self, ratios: Mapping[str, float]) -> float:
        """Summed milliseconds of the Conv2d / Linear modules under the plan."""
        grids = self.table.layers
        return sum(grids[name](f_in, f_out) for name, (f_in, f_out) in self.layer_fractions(ratios).items())

    def __call__(self, ratios: Mapping[str, float]) -> float:
        """Predicted milliseconds of the network pruned to ``ratios``."""
        return self.layers_ms(ratios) + self.table.rest(self.kept(ratios))


@dataclass(frozen=True)
class LatencyLimit:
    """A latency limit of a compression: the predictor and the most milliseconds allowed."""

    predict: PlanLatency
    limit_ms: float

    def fits(self, ratios: Mapping[str, float]) -> bool:
        return self.predict(ratios) <= self.limit_ms


def parse_latency_limit(text: str, source_ms: float) -> float:
    """``--max-latency-ms`` in milliseconds: absolute (``3``, ``3ms``) or relative to the
    source's predicted latency (``50%``).

    Raises:
        PruningError: Not a positive number of milliseconds, or a percentage outside (0, 100].
    """
    s = str(text).strip().lower()
    relative = s.endswith("%")
    number = s[:-1] if relative else s[:-2] if s.endswith("ms") else s
    try:
        value = float(number)
    except ValueError:
        raise PruningError(f"--max-latency-ms {text!r} is not a limit; use milliseconds (3, 3ms) or a percentage "
                           "of the source's predicted latency (50%)") from None
    if relative:
        if not 0.0 < value <= 100.0:
            raise PruningError(f"--max-latency-ms {text!r}: a relative limit must be in (0%, 100%]")
        return value / 100.0 * source_ms
    if not value > 0 or value == float("inf"):
        raise PruningError(f"--max-latency-ms {text!r} must be a positive, finite number of milliseconds")
    return value


def latency_record(latency: LatencyLimit, source: nn.Module, pruned: nn.Module, ratios: Mapping[str, float],
                   input_shape: Sequence[int]) -> dict[str, Any]:
    """The limit, and the predicted and measured milliseconds of ``source`` and of
    ``pruned`` (its plan ``ratios``), timed with the table's timing in the same rounds.

    Raises:
        PruningError: The plan's prediction is above the limit (the methods choose plans
            on this prediction, so that is a bug).
    """
    predicted = latency.predict(ratios)
    if predicted > latency.limit_ms * (1 + 1e-9):
        raise PruningError(f"the pruned model is predicted at {predicted:.4g} ms, above the limit "
                           f"{latency.limit_ms:.4g} ms")
    timing = latency.predict.table.timing
    shape = tuple(input_shape)
    source_ms, pruned_ms = timing.time_modules([(copy.deepcopy(source), shape), (copy.deepcopy(pruned), shape)])
    return {"limit_ms": latency.limit_ms, "source_predicted_ms": latency.predict({}), "source_measured_ms": source_ms,
            "predicted_ms": predicted, "measured_ms": pruned_ms, "timing": asdict(timing)}
