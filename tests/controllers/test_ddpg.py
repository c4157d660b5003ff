"""The DDPG agent: it learns, explores within bounds with decaying noise, and resumes exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from controllers.ddpg import DDPGAgent
from controllers.ddpg_replay import ReplayBuffer, truncated_normal
from nasengine.agent import Agent
from nasengine.registry import AGENTS


def _target(state: np.ndarray) -> float:
    """The best action of the toy problem: it depends on the state."""
    return 0.2 + 0.6 * float(state[0])


def _train(agent: DDPGAgent, episodes: int, seed: int = 0) -> list:
    """One-step episodes rewarding closeness to ``_target``; returns actions and losses."""
    rng = np.random.default_rng(seed)
    trace = []
    for _ in range(episodes):
        state = rng.random(agent.state_dim)
        action = agent.act(state)
        agent.observe(state, action, -abs(float(action[0]) - _target(state)), state, True)
        trace.append((action.tolist(), agent.update()))
        agent.end_episode()
    return trace


def _small(**options) -> DDPGAgent:
    defaults = dict(seed=0, hidden=(64, 64), warmup=20, batch_size=32, replay_size=500, actor_lr=1e-3,
                    critic_lr=1e-3, sigma_decay=0.98)
    return DDPGAgent(2, **{**defaults, **options})


def _policy_error(agent: DDPGAgent) -> float:
    states = np.random.default_rng(123).random((50, 2))
    return float(np.mean([abs(agent.act(s, explore=False)[0] - _target(s)) for s in states]))


def test_learns_a_state_dependent_best_action():
    agent = _small()
    before = _policy_error(agent)
    _train(agent, 300)
    after = _policy_error(agent)
    assert before > 0.1
    assert after < 0.06, (before, after)


def test_warmup_acts_uniformly_and_does_not_learn():
    agent = _small(warmup=50, low=0.2, high=0.9)
    trace = _train(agent, 50)
    actions = np.array([a[0] for a, _ in trace])
    assert all(losses == {} for _, losses in trace)
    assert 0.2 <= actions.min() and actions.max() <= 0.9
    assert actions.std() > 0.15  # uniform on [0.2, 0.9] has std 0.2
    agent.observe(np.zeros(2), np.array([0.5]), 0.0, np.zeros(2), True)
    assert agent.warming_up is False and set(agent.update()) == {"critic_loss", "actor_loss", "baseline"}


def test_noise_decays_per_episode_after_warmup():
    agent = _small(warmup=3, sigma=0.5, sigma_decay=0.9)
    sigmas = []
    for _ in range(6):
        sigmas.append(agent.noise_sigma())
        agent.end_episode()
    assert sigmas == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.45, 0.405])


def test_exploration_stays_in_bounds_and_narrows():
    agent = _small(warmup=0, sigma=0.5, sigma_decay=0.5, low=0.1, high=0.8)
    state = np.full(2, 0.3)
    mean = agent.act(state, explore=False)[0]
    spreads = []
    for _ in range(4):
        draws = np.array([agent.act(state)[0] for _ in range(300)])
        assert draws.min() >= 0.1 and draws.max() <= 0.8
        spreads.append(np.abs(draws - mean).mean())
        agent.end_episode()
    assert spreads[0] > spreads[1] > spreads[2] > spreads[3]
    assert spreads[3] < 0.05


def test_truncated_normal_matches_its_distribution():
    g = torch.Generator().manual_seed(0)
    wide = truncated_normal(torch.full((20000,), 0.9), 0.5, 0.0, 1.0, g)
    assert wide.min() >= 0.0 and wide.max() <= 1.0
    # N(0.9, 0.5) truncated to [0, 1] has mean 0.6128 and std 0.2572 (scipy.stats.truncnorm)
    assert float(wide.mean()) == pytest.approx(0.6128, abs=0.008)
    assert float(wide.std()) == pytest.approx(0.2572, abs=0.008)
    narrow = truncated_normal(torch.full((20000,), 0.5), 0.05, 0.0, 1.0, g)
    assert float(narrow.std()) == pytest.approx(0.05, rel=0.05)
    far = truncated_normal(torch.tensor([5.0, -3.0]), 1e-3, 0.0, 1.0, g)  # no mass in range: the clipped mean
    assert far.tolist() == [1.0, 0.0]


def test_replay_buffer_keeps_the_newest_and_samples_distinct_rows():
    buffer = ReplayBuffer(4, 1, 1)
    for i in range(6):
        buffer.add([i], [i], float(i), [i], False)
    assert len(buffer) == 4 and sorted(buffer.rewards[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0]
    _, _, rewards, _, _ = buffer.sample(4, torch.Generator().manual_seed(0))
    assert sorted(rewards[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0]


def _roundtrip(state: dict) -> dict:
    blob = io.BytesIO()
    torch.save(state, blob)
    blob.seek(0)
    return torch.load(blob, weights_only=True)


def test_state_dict_roundtrip_continues_bit_for_bit():
    agent = _small(warmup=5)
    _train(agent, 12, seed=1)
    restored = _small(warmup=5, seed=7)  # another seed: everything must come from the state
    restored.load_state_dict(_roundtrip(agent.state_dict()))
    assert _train(restored, 10, seed=2) == _train(agent, 10, seed=2)
    state = np.array([0.4, 0.6])
    assert np.array_equal(agent.act(state, explore=False), restored.act(state, explore=False))


def test_state_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="state_dim"):
        DDPGAgent(3, hidden=(8, 8)).load_state_dict(DDPGAgent(2, hidden=(8, 8)).state_dict())


def test_seeded_agents_agree_and_leave_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a, b = _train(_small(warmup=3), 8), _train(_small(warmup=3), 8)
    assert a == b
    assert torch.rand(1) == before


def test_registry_creates_the_agent_and_names_options_on_a_typo():
    agent = AGENTS.create("ddpg", 10, hidden=(8, 8), warmup=1)
    assert isinstance(agent, Agent) and agent.act(np.zeros(10)).shape == (1,)
    with pytest.raises(ValueError, match=r"no option\(s\) \['warmpu'\].*'sigma_decay'"):
        AGENTS.create("ddpg", 10, warmpu=1)


@pytest.mark.parametrize("options", [dict(hidden=(8,)), dict(tau=0.0), dict(sigma_decay=1.5), dict(low=1.0),
                                     dict(batch_size=0)])
def test_bad_options_are_value_errors(options):
    with pytest.raises(ValueError):
        DDPGAgent(2, **options)


def test_a_state_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="vector of 2 numbers"):
        DDPGAgent(2, hidden=(8, 8), warmup=0).act(np.zeros(3))
