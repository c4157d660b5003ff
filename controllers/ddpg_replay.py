"""The DDPG agent's replay buffer and its truncated-normal exploration noise.

Both draw from a ``torch.Generator`` the agent owns, so that their randomness is part of
the agent's saved state and a restored agent draws what the saved one would have.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

__all__ = ["ReplayBuffer", "truncated_normal"]


class ReplayBuffer:
    """A ring buffer of transitions ``(state, action, reward, next_state, done)``: once
    full, each new transition replaces the oldest.

    Args:
        capacity: Transitions kept. AMC keeps 100 per layer (``rmsize`` 100 times the
            number of prunable layers, ``amc_search.py``).
        state_dim: Length of a state vector.
        action_dim: Length of an action vector.
    """

    def __init__(self, capacity: int, state_dim: int, action_dim: int) -> None:
        self.capacity = capacity
        self.states = torch.zeros(capacity, state_dim)
        self.actions = torch.zeros(capacity, action_dim)
        self.rewards = torch.zeros(capacity, 1)
        self.next_states = torch.zeros(capacity, state_dim)
        self.dones = torch.zeros(capacity, 1)
        self.size = 0
        self.position = 0  # where the next transition is written

    def __len__(self) -> int:
        return self.size

    def add(self, state: Any, action: Any, reward: float, next_state: Any, done: bool) -> None:
        i = self.position
        self.states[i] = torch.as_tensor(state, dtype=torch.float32)
        self.actions[i] = torch.as_tensor(action, dtype=torch.float32)
        self.rewards[i, 0] = float(reward)
        self.next_states[i] = torch.as_tensor(next_state, dtype=torch.float32)
        self.dones[i, 0] = float(done)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``batch_size`` transitions as ``(states, actions, rewards, next_states, dones)``:
        distinct ones when the buffer holds enough, else drawn with replacement (as AMC's
        replay memory does)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if self.size >= batch_size:
            index = torch.randperm(self.size, generator=generator)[:batch_size]
        else:
            index = torch.randint(self.size, (batch_size,), generator=generator)
        return (self.states[index], self.actions[index], self.rewards[index], self.next_states[index],
                self.dones[index])

    def state_dict(self) -> dict[str, Any]:
        n = self.size  # only the filled rows: a fresh buffer of a long run is mostly empty
        return {"capacity": self.capacity, "size": n, "position": self.position,
                "states": self.states[:n].clone(), "actions": self.actions[:n].clone(),
                "rewards": self.rewards[:n].clone(), "next_states": self.next_states[:n].clone(),
                "dones": self.dones[:n].clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"replay buffer state holds {state['capacity']} transitions, not {self.capacity}")
        n = int(state["size"])
        for name in ("states", "actions", "rewards", "next_states", "dones"):
            getattr(self, name)[:n] = state[name]
        self.size, self.position = n, int(state["position"])


def truncated_normal(mean: torch.Tensor, sigma: float, low: float, high: float,
                     generator: torch.Generator) -> torch.Tensor:
    """One draw per entry of ``mean`` from a normal distribution of standard deviation
    ``sigma`` truncated to ``[low, high]`` (inverse-CDF sampling, in float64).

    AMC explores this way (``sample_from_truncated_normal_distribution`` in ``lib/agent.py``):
    the noise never leaves the action range, so no probability mass piles up on a bound as
    clipping a plain normal draw would. When the range holds no mass to float precision
    (a tiny ``sigma`` far from the range), the mean clipped to the range is returned.
    """
    mu = mean.detach().to(torch.float64)
    a = torch.special.ndtr((low - mu) / sigma)
    b = torch.special.ndtr((high - mu) / sigma)
    u = torch.rand(mu.shape, generator=generator, dtype=torch.float64)
    mass = b - a
    x = mu + sigma * torch.special.ndtri((a + u * mass).clamp(1e-300, 1.0 - 1e-16))
    x = torch.where(mass > 1e-12, x, mu)
    return x.clamp(low, high).to(mean.dtype)
