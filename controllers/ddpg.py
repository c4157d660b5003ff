"""DDPG (Lillicrap et al. 2016) as AMC and HAQ use it: one agent for per-layer decisions.

AMC (He et al., ECCV 2018) and HAQ (Wang et al., CVPR 2019) search one continuous action
per layer (a preserve ratio, a bit width) with the same deep deterministic policy gradient
agent; only their environments differ. The defaults are those of AMC's released search
(``mit-han-lab/amc``: ``amc_search.py`` arguments, ``lib/agent.py``):

* actor and critic: two hidden layers of 300 units with ReLU; the actor ends in a sigmoid
  (scaled here to ``[low, high]``), the critic adds the projections of state and action
  in its first layer; Adam with learning rates 1e-4 (actor) and 1e-3 (critic);
* soft target updates with ``tau`` 0.01, discount 1.0, mini-batches of 64;
* ``warmup`` 100 episodes of uniformly random actions that only fill the replay buffer
  (AMC's rule is ``episode <= warmup``, one more; here episodes ``0 .. warmup-1``);
* exploration: a normal draw around the actor's action, truncated to the action range,
  whose standard deviation starts at 0.5 and is multiplied by 0.95 every episode after
  the warm-up (HAQ uses 0.99);
* the reward of a sampled mini-batch is centred on a moving average of mini-batch mean
  rewards (AMC's ``moving_average``, updated with weight 0.5 by every mini-batch) before
  it enters the critic's target ``r + discount * (1 - done) * Q'(s', mu'(s'))``.

The networks compute on the CPU, single-threaded (tiny layers, where threads cost more
than they save; the thread count is restored after each call), so the agent is
deterministic for a seed, and ``state_dict()`` holds its random generator, replay buffer,
baseline and episode count: a restored agent continues bit for bit.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from controllers.ddpg_replay import ReplayBuffer, truncated_normal
from nasengine.agent import Agent
from nasengine.utils.threads import one_thread
from nasengine.utils.validation import finite_number, non_negative_int, positive_int, positive_int_tuple

__all__ = ["DDPGAgent"]

_STATE_FORMAT = 1


class _Actor(nn.Module):
    def __init__(self, state_dim: int, action_dim: int, hidden: Sequence[int], low: float, high: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(state_dim, hidden[0]), nn.ReLU(), nn.Linear(hidden[0], hidden[1]),
                                 nn.ReLU(), nn.Linear(hidden[1], action_dim), nn.Sigmoid())
        self.low, self.high = low, high

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * self.net(state)


class _Critic(nn.Module):
    def __init__(self, state_dim: int, action_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.state_in = nn.Linear(state_dim, hidden[0])
        self.action_in = nn.Linear(action_dim, hidden[0])
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(hidden[0], hidden[1]), nn.ReLU(), nn.Linear(hidden[1], 1))

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.rest(self.state_in(state) + self.action_in(action))


class DDPGAgent(Agent):
    """Deep deterministic policy gradient with AMC's exploration and reward baseline.

    Args:
        state_dim: Length of a state vector.
        action_dim: Length of an action vector (AMC and HAQ: 1).
        seed: Seeds the initial weights and every random draw of the agent.
        hidden: Widths of the two hidden layers of actor and critic (AMC: 300, 300).
        actor_lr: Adam learning rate of the actor (AMC: 1e-4).
        critic_lr: Adam learning rate of the critic (AMC: 1e-3).
        tau: Soft target update weight (AMC: 0.01).
        discount: Discount of the next state's value (AMC: 1.0, episodes are short).
        batch_size: Transitions per update (AMC: 64).
        warmup: Episodes of random actions before the actor acts and learns (AMC: 100).
        replay_size: Transitions the replay buffer keeps (AMC: 100 per layer).
        sigma: Initial standard deviation of the exploration noise (AMC: 0.5).
        sigma_decay: Factor applied to it every episode after the warm-up (AMC: 0.95).
        baseline_alpha: Weight of a mini-batch's mean reward in the moving-average reward
            baseline (AMC: 0.5); 0 disables the baseline.
        low: Smallest action (AMC: 0).
        high: Largest action (AMC: 1).
    """

    def __init__(self, state_dim: int, action_dim: int = 1, *, seed: int = 0, hidden: Sequence[int] = (300, 300),
                 actor_lr: float = 1e-4, critic_lr: float = 1e-3, tau: float = 0.01, discount: float = 1.0,
                 batch_size: int = 64, warmup: int = 100, replay_size: int = 2000, sigma: float = 0.5,
                 sigma_decay: float = 0.95, baseline_alpha: float = 0.5, low: float = 0.0, high: float = 1.0) -> None:
        self.state_dim = positive_int("state_dim", state_dim)
        self.action_dim = positive_int("action_dim", action_dim)
        self.seed = non_negative_int("seed", seed)
        self.hidden = positive_int_tuple("hidden", hidden)
        if len(self.hidden) != 2:
            raise ValueError(f"hidden must give the widths of 2 hidden layers, got {hidden!r}")
        self.tau = finite_number("tau", tau, low=0.0, high=1.0, low_open=True, high_open=False)
        self.discount = finite_number("discount", discount, low=0.0, high=1.0, high_open=False)
        self.batch_size = positive_int("batch_size", batch_size)
        self.warmup = non_negative_int("warmup", warmup)
        self.sigma = finite_number("sigma", sigma, low=0.0, low_open=True)
        self.sigma_decay = finite_number("sigma_decay", sigma_decay, low=0.0, high=1.0, low_open=True,
                                         high_open=False)
        self.baseline_alpha = finite_number("baseline_alpha", baseline_alpha, low=0.0, high=1.0, high_open=False)
        self.low = finite_number("low", low)
        self.high = finite_number("high", high, low=self.low, low_open=True)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global generator
            torch.manual_seed(self.seed)
            self.actor = _Actor(self.state_dim, self.action_dim, self.hidden, self.low, self.high)
            self.critic = _Critic(self.state_dim, self.action_dim, self.hidden)
        self.actor_target = copy.deepcopy(self.actor)
        self.critic_target = copy.deepcopy(self.critic)
        self.actor_optim = torch.optim.Adam(self.actor.parameters(),
                                            lr=finite_number("actor_lr", actor_lr, low=0.0, low_open=True))
        self.critic_optim = torch.optim.Adam(self.critic.parameters(),
                                             lr=finite_number("critic_lr", critic_lr, low=0.0, low_open=True))
        self.replay = ReplayBuffer(positive_int("replay_size", replay_size), self.state_dim, self.action_dim)
        self.generator = torch.Generator().manual_seed(self.seed + 1)  # not the init's stream
        self.baseline: float | None = None
        self.episode = 0

    # --- acting ------------------------------------------------------------------------------
    @property
    def warming_up(self) -> bool:
        """Whether the current episode is one of the random warm-up episodes."""
        return self.episode < self.warmup

    def noise_sigma(self) -> float:
        """The exploration noise's standard deviation in the current episode."""
        return self.sigma * self.sigma_decay ** max(0, self.episode - self.warmup)

    def act(self, state: np.ndarray, *, explore: bool = True) -> np.ndarray:
        if explore and self.warming_up:
            u = torch.rand(self.action_dim, generator=self.generator, dtype=torch.float64)
            return (self.low + (self.high - self.low) * u).numpy()
        with one_thread(), torch.no_grad():
            mean = self.actor(self._tensor(state)[None])[0].to(torch.float64)
        if explore:
            mean = truncated_normal(mean, self.noise_sigma(), self.low, self.high, self.generator)
        return mean.numpy()

    def observe(self, state: np.ndarray, action: np.ndarray, reward: float, next_state: np.ndarray,
                done: bool) -> None:
        self.replay.add(self._tensor(state), np.asarray(action, dtype=np.float32).reshape(self.action_dim),
                        reward, self._tensor(next_state), done)

    def end_episode(self) -> None:
        self.episode += 1

    # --- learning ----------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        if self.warming_up or len(self.replay) == 0:
            return {}
        with one_thread():
            states, actions, rewards, next_states, dones = self.replay.sample(self.batch_size, self.generator)
            batch_mean = float(rewards.mean())
            if self.baseline is None:
                self.baseline = batch_mean
            else:
                self.baseline += self.baseline_alpha * (batch_mean - self.baseline)
            if self.baseline_alpha > 0:
                rewards = rewards - self.baseline
            with torch.no_grad():
                next_q = self.critic_target(next_states, self.actor_target(next_states))
                target_q = rewards + self.discount * (1.0 - dones) * next_q
            critic_loss = nn.functional.mse_loss(self.critic(states, actions), target_q)
            self.critic_optim.zero_grad()
            critic_loss.backward()
            self.critic_optim.step()
            actor_loss = -self.critic(states, self.actor(states)).mean()
            self.actor_optim.zero_grad()
            actor_loss.backward()
            self.actor_optim.step()
            with torch.no_grad():
                for target, source in ((self.actor_target, self.actor), (self.critic_target, self.critic)):
                    for t, s in zip(target.parameters(), source.parameters()):
                        t.mul_(1.0 - self.tau).add_(s, alpha=self.tau)
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "baseline": self.baseline}

    # --- checkpointing -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        nets = {name: copy.deepcopy(getattr(self, name).state_dict())
                for name in ("actor", "critic", "actor_target", "critic_target", "actor_optim", "critic_optim")}
        return {"format": _STATE_FORMAT, "state_dim": self.state_dim, "action_dim": self.action_dim,
                "hidden": list(self.hidden), **nets, "replay": self.replay.state_dict(),
                "rng": self.generator.get_state(), "baseline": self.baseline, "episode": self.episode}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(f"DDPG agent state format {state.get('format')!r} is not {_STATE_FORMAT}")
        saved = (state["state_dim"], state["action_dim"], list(state["hidden"]))
        if saved != (self.state_dim, self.action_dim, list(self.hidden)):
            raise ValueError(f"DDPG agent state was saved for (state_dim, action_dim, hidden) {saved}, "
                             f"not {(self.state_dim, self.action_dim, list(self.hidden))}")
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_optim", "critic_optim"):
            getattr(self, name).load_state_dict(state[name])
        self.replay.load_state_dict(state["replay"])
        self.generator.set_state(state["rng"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.episode = int(state["episode"])

    def _tensor(self, state: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(state, dtype=np.float32))
        if x.shape != (self.state_dim,):
            raise ValueError(f"a state must be a vector of {self.state_dim} numbers, got shape {tuple(x.shape)}")
        return x
