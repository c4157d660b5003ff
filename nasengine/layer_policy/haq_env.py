"""HAQ's quantization environment: the same agent as AMC's, deciding bits instead of ratios.

HAQ (Wang et al., CVPR 2019; ``LinearQuantizeEnv`` of its code) takes two steps per layer:
the weight bits, then the activation bits. A decision whose bounds admit one bit count (the
first and last layers at 8, or activations held fixed under a size limit, as in HAQ's
weights-only size experiments) is not asked of the agent: it would only add steps whose
action changes nothing. Its state (Section 3.1) is the layer's static
features, :data:`BIT_FEATURES` (whether it is depthwise, its input and output channels,
stride, kernel, weight count, input feature-map size and index, each min-max scaled over the
layers), then the previous action as bits over the highest bit count, and 1 when the step
decides weights (0 for activations). An action in ``[0, 1]`` becomes whole bits
(:meth:`BitBudget.bits`); after the last layer the budget rule lowers bits until the limit
holds (:meth:`BitBudget.enforce`) and ``evaluate`` scores the policy (HAQ: the validation
accuracy of the quantized network, after a short fine-tune in its code), which is the
reward; earlier steps give 0.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np

from nasengine.layer_policy.bit_budget import BitBudget
from nasengine.layer_policy.embedding import min_max_columns

__all__ = ["BIT_FEATURES", "BitLayer", "BitWidthEnv"]

BIT_FEATURES = ("depthwise", "in_channels", "out_channels", "stride", "kernel", "weights", "feature_size", "index")


class BitLayer(Protocol):
    """What the state needs to know of a layer (``nasengine.quantize.QuantizableLayer`` has it)."""

    depthwise: bool
    in_channels: int
    out_channels: int
    stride: int
    kernel: int
    weights: int
    feature_size: int
    index: int


class BitWidthEnv:
    """Per-layer weight and activation bits under a cost limit, scored by ``evaluate``.

    Args:
        layers: The layers in decision order.
        budget: Their bit bounds, cost model and limit.
        evaluate: Accuracy in ``[0, 1]`` of the network at a policy (``(w, a)`` per layer);
            it must depend on the policy only, so that a resumed search scores it the same.
    """

    def __init__(self, layers: Sequence[BitLayer], budget: BitBudget,
                 evaluate: Callable[[list[tuple[int, int]]], float]) -> None:
        if len(layers) != len(budget):
            raise ValueError(f"{len(layers)} layers but a budget for {len(budget)}")
        self.budget = budget
        self.evaluate = evaluate
        raw = np.array([[float(getattr(layer, name)) for name in BIT_FEATURES] for layer in layers])
        self.static = min_max_columns(raw)
        self.max_bits = max(high for pair in budget.bounds for _, high in pair)
        #: ``(layer, 0 for weights / 1 for activations)`` of each step, in order
        self.decisions = [(k, which) for k, pair in enumerate(budget.bounds) for which in (0, 1)
                          if pair[which][0] < pair[which][1]]
        if not self.decisions:
            raise ValueError("every layer's bits are fixed by its bounds: there is nothing to decide")
        self.chosen: list[list[int]] = []
        self.steps = 0

    @property
    def state_size(self) -> int:
        return len(BIT_FEATURES) + 2

    def _state(self, step: int, previous_bits: float) -> np.ndarray:
        k, which = self.decisions[step]
        return np.concatenate([self.static[k], [previous_bits / self.max_bits, float(which == 0)]])

    def reset(self) -> np.ndarray:
        self.chosen = [[w_low, a_low] for (w_low, _), (a_low, _) in self.budget.bounds]
        self.steps = 0
        return self._state(0, self.max_bits)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        if not self.chosen or self.steps == len(self.decisions):
            raise RuntimeError("the episode is over; call reset() first")
        value = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        step = self.steps
        k, which = self.decisions[step]
        bits = self.budget.bits(k, which, value)
        self.chosen[k][which] = bits
        self.steps += 1
        if self.steps < len(self.decisions):
            return self._state(self.steps, bits), 0.0, False, {}
        return self._state(step, bits), *self._score()

    def reference_actions(self) -> list[np.ndarray]:
        """The actions that choose the largest uniform policy meeting the limit (every decided
        bit at one count ``k``, within each layer's bounds; fixed bits as they are), each the
        centre of its bit count's share of ``[0, 1]``. With every bit at its lower bound the
        limit holds (``BitBudget`` checks it), so the walk down always ends."""
        bounds = self.budget.bounds
        for k in range(self.max_bits, 0, -1):
            policy = [tuple(min(max(k, low), high) for low, high in pair) for pair in bounds]
            if self.budget.limit is None or self.budget.cost(policy) <= self.budget.limit:
                break
        actions = []
        for k, which in self.decisions:
            low, high = bounds[k][which]
            actions.append(np.array([(policy[k][which] - low + 0.5) / (high - low + 1)]))
        return actions

    def _score(self) -> tuple[float, bool, dict[str, Any]]:
        chosen = [(w, a) for w, a in self.chosen]
        policy = self.budget.enforce(chosen)
        accuracy = float(self.evaluate(policy))
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"evaluate must return an accuracy in [0, 1], got {accuracy!r}")
        info = {"policy": [list(p) for p in policy], "chosen": [list(p) for p in chosen], "accuracy": accuracy,
                "cost": self.budget.cost(policy)}
        return accuracy, True, info
