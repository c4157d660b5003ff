"""The agent contract: a reinforcement-learning agent acting on continuous actions.

Compression methods that decide one number per layer (AMC's preserve ratios, HAQ's bit
widths) share one agent and differ only in their environment. The engine drives an agent
through this narrow interface and finds implementations in the registry ``AGENTS``
(entry-point group ``nasengine.agents``; the built-in ``ddpg`` lives in ``controllers``).

A step of an episode::

    action = agent.act(state)                      # explores while training
    next_state, reward, done, info = env.step(action)
    agent.observe(state, action, reward, next_state, done)
    losses = agent.update()                        # {} while warming up
    ...
    agent.end_episode()                            # schedules (noise decay) advance

``state_dict()`` captures everything that decides what the agent does next (weights,
optimizer moments, replay buffer, exploration schedule and random generator), so that an
agent restored from it acts and learns exactly as the one that saved it.
"""

from __future__ import annotations

import abc
from typing import Any, Mapping

import numpy as np

__all__ = ["Agent"]


class Agent(abc.ABC):
    """An off-policy agent over states and actions that are flat float vectors.

    Subclasses document their action range; the environment maps an action to what it
    decides (a preserve ratio, a number of bits) and may clip it.
    """

    @abc.abstractmethod
    def act(self, state: np.ndarray, *, explore: bool = True) -> np.ndarray:
        """The action for ``state``: with exploration while training, the policy's own
        (deterministic) action when ``explore`` is false."""

    @abc.abstractmethod
    def observe(self, state: np.ndarray, action: np.ndarray, reward: float, next_state: np.ndarray,
                done: bool) -> None:
        """Remember one transition (stored for replay)."""

    @abc.abstractmethod
    def update(self) -> dict[str, float]:
        """One learning step from remembered transitions; its losses by name (empty when
        the agent does not learn yet, e.g. during warm-up)."""

    def end_episode(self) -> None:  # noqa: B027 -- optional hook; most agents keep no schedule
        """An episode ended: advance per-episode schedules (exploration decay, warm-up)."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit, as tensors and plain data only (so
        that it loads with ``torch.load(weights_only=True)``)."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``; ``ValueError`` if it was saved by an agent of
        another shape (state or action size)."""
