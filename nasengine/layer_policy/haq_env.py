"""HAQ's quantization environment: the same agent as AMC's, deciding bits instead of ratios.

HAQ (Wang et al., CVPR 2019; ``LinearQuantizeEnv`` of its code) takes two steps per layer:
the weight bits, then the activation bits. Its state (Section 3.1) is the layer's static
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
        self.chosen: list[list[int]] = []

    @property
    def state_size(self) -> int:
        return len(BIT_FEATURES) + 2

    def _state(self, k: int, previous_bits: float, weights_next: bool) -> np.ndarray:
        return np.concatenate([self.static[k], [previous_bits / self.max_bits, float(weights_next)]])

    def reset(self) -> np.ndarray:
        self.chosen = []
        return self._state(0, self.max_bits, True)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        value = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        if self.chosen and len(self.chosen[-1]) == 1:  # the activation bits of the current layer
            k = len(self.chosen) - 1
            bits = self.budget.bits(k, 1, value)
            self.chosen[-1].append(bits)
            if k + 1 < len(self.budget):
                return self._state(k + 1, bits, True), 0.0, False, {}
            return self._state(k, bits, False), *self._score()
        if len(self.chosen) == len(self.budget):
            raise RuntimeError("the episode is over; call reset() first")
        k = len(self.chosen)
        bits = self.budget.bits(k, 0, value)
        self.chosen.append([bits])
        return self._state(k, bits, False), 0.0, False, {}

    def _score(self) -> tuple[float, bool, dict[str, Any]]:
        chosen = [(w, a) for w, a in self.chosen]
        policy = self.budget.enforce(chosen)
        accuracy = float(self.evaluate(policy))
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"evaluate must return an accuracy in [0, 1], got {accuracy!r}")
        info = {"policy": [list(p) for p in policy], "chosen": [list(p) for p in chosen], "accuracy": accuracy,
                "cost": self.budget.cost(policy)}
        return accuracy, True, info
