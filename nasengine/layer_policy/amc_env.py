"""AMC's channel-pruning environment, independent of how a network is pruned.

An episode walks the prunable layers in order. At layer ``t`` the agent sees its state
(:class:`StateEmbedding`) and answers a preserve ratio; the budget rule clips it
(:class:`ChannelBudget`) and the next layer's state follows. After the last layer the
whole policy is scored by ``evaluate`` (in AMC: prune the network to these ratios and
measure its accuracy on a held-out split, without fine-tuning) and the reward
(:mod:`~nasengine.layer_policy.rewards`) is returned; earlier steps give 0. The step
before the first and the step after the last return the same state shape, as AMC's does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from nasengine.layer_policy.budget import ChannelBudget
from nasengine.layer_policy.embedding import StateEmbedding
from nasengine.layer_policy.rewards import reward_function

__all__ = ["ChannelPruningEnv"]


class ChannelPruningEnv:
    """Per-layer preserve ratios under a MACs limit, scored by ``evaluate``.

    Args:
        budget: The layers, their MACs model, the bounds and the limit.
        evaluate: Accuracy in ``[0, 1]`` of the network pruned to the given ratios (one
            per layer). It must depend on the ratios only, so that a resumed search
            scores a policy as the interrupted one did.
        reward: A name of :data:`~nasengine.layer_policy.rewards.REWARDS`: ``"accuracy"``
            with a limit (resource-constrained), ``"error_log_macs"`` without (accuracy-guaranteed).
    """

    def __init__(self, budget: ChannelBudget, evaluate: Callable[[list[float]], float], *,
                 reward: str = "accuracy") -> None:
        self.budget = budget
        self.embedding = StateEmbedding(budget.cost)
        self.evaluate = evaluate
        self.reward_name = reward
        self.reward = reward_function(reward)
        self.ratios: list[float] = []

    @property
    def state_size(self) -> int:
        return self.embedding.size

    def reset(self) -> np.ndarray:
        self.ratios = []
        return self.embedding.state(self.ratios)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        if len(self.ratios) == len(self.budget.cost):
            raise RuntimeError("the episode is over; call reset() first")
        value = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        self.ratios.append(self.budget.clip(self.ratios, value))
        if len(self.ratios) < len(self.budget.cost):
            return self.embedding.state(self.ratios), 0.0, False, {}
        return self.embedding.state(self.ratios[:-1]), *self._score(self.ratios)

    def _score(self, ratios: Sequence[float]) -> tuple[float, bool, dict[str, Any]]:
        accuracy = float(self.evaluate(list(ratios)))
        macs = self.budget.cost.macs(ratios)
        info = {"policy": list(ratios), "channels": self.budget.channels(ratios), "accuracy": accuracy,
                "macs": macs, "macs_ratio": macs / self.budget.cost.original}
        if self.budget.other is not None:
            info[self.budget.other.name] = self.budget.other.measure(ratios)
        return self.reward(accuracy, macs), True, info
