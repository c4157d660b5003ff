"""AMC's rewards for a compressed network evaluated without fine-tuning.

``env/rewards.py`` of AMC's code: ``acc_reward`` (the accuracy, for the resource-constrained
mode where the budget rule enforces the limit) and ``acc_flops_reward``,
``-error * log(FLOPs)`` (the accuracy-guaranteed mode, where the reward trades accuracy
against cost; the paper's Section 3.4). Accuracies here are fractions in ``[0, 1]`` (the
code takes percentages and scales them by 0.01).
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = ["REWARDS", "accuracy_reward", "error_log_macs_reward", "reward_function"]


def _check(accuracy: float, macs: float) -> None:
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy!r}")
    if not macs > 0:
        raise ValueError(f"macs must be positive, got {macs!r}")


def accuracy_reward(accuracy: float, macs: float) -> float:
    """The validation accuracy itself (``macs`` is ignored: the budget rule limits it)."""
    _check(accuracy, macs)
    return float(accuracy)


def error_log_macs_reward(accuracy: float, macs: float) -> float:
    """``-(1 - accuracy) * log(macs)``: a lower error is worth more, and cheaper networks
    are preferred at equal error (the reward is negative; 0 would be a perfect network)."""
    _check(accuracy, macs)
    return -(1.0 - accuracy) * math.log(macs)


#: The rewards by name, each ``f(accuracy, macs) -> reward``.
REWARDS: dict[str, Callable[[float, float], float]] = {
    "accuracy": accuracy_reward,
    "error_log_macs": error_log_macs_reward,
}


def reward_function(name: str) -> Callable[[float, float], float]:
    """The reward called ``name``; ``ValueError`` listing the names otherwise."""
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; choose one of {sorted(REWARDS)}")
    return REWARDS[name]
