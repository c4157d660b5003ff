"""AMC's environment and the resumable episode loop."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from controllers.ddpg import DDPGAgent
from nasengine.layer_policy import FEATURES, ChannelBudget, ChannelPruningEnv, run_episodes
from nasengine.utils.run_folder import RunFolderError
from tests.layer_policy.tables import random_cost


def _env(reward: str = "accuracy") -> ChannelPruningEnv:
    cost = random_cost(random.Random(11), 5)
    limit = 0.5 * cost.original if reward == "accuracy" else None

    def evaluate(ratios: list[float]) -> float:  # a made-up accuracy that prefers keeping early layers
        return float(np.clip(0.3 + 0.5 * np.average(ratios, weights=[5, 4, 3, 2, 1]), 0.0, 1.0))

    return ChannelPruningEnv(ChannelBudget(cost, limit, round_to=4), evaluate, reward=reward)


def _agent() -> DDPGAgent:
    return DDPGAgent(len(FEATURES), hidden=(16, 16), warmup=3, batch_size=8, replay_size=64, seed=3)


def test_an_episode_clips_to_the_limit_and_scores_the_policy():
    env = _env()
    state = env.reset()
    assert state.shape == (env.state_size,)
    for k in range(5):
        state, reward, done, info = env.step(np.array([1.0]))
        assert done == (k == 4)
    assert info["macs"] <= env.budget.limit * (1 + 1e-9)
    assert info["policy"] == env.ratios and reward == info["accuracy"]
    assert info["macs_ratio"] == pytest.approx(info["macs"] / env.budget.cost.original)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([1.0]))


def test_accuracy_guaranteed_mode_prices_macs():
    env = _env("error_log_macs")
    env.reset()
    for _ in range(5):
        _, reward, _, info = env.step(np.array([0.0]))
    assert reward == pytest.approx(-(1 - info["accuracy"]) * np.log(info["macs"]))


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


class _Stop(Exception):
    pass


def test_resume_equals_an_uninterrupted_run(tmp_path):
    settings = {"limit": 0.5, "seed": 3}
    seen = []
    whole = run_episodes(_agent(), _env(), 10, checkpoint=tmp_path / "a.pt", settings=settings,
                         on_episode=lambda r: seen.append(r.reward))

    def stop_after_4(result):
        if result.episode == 4:
            raise _Stop

    with pytest.raises(_Stop):
        run_episodes(_agent(), _env(), 10, checkpoint=tmp_path / "b.pt", settings=settings, on_episode=stop_after_4)
    resumed_rewards = []
    agent = _agent()
    rest = run_episodes(agent, _env(), 10, checkpoint=tmp_path / "b.pt", settings=settings,
                        on_episode=lambda r: resumed_rewards.append(r.reward))
    assert rest.resumed_from == 5 and rest.episodes == 10
    assert resumed_rewards == seen[5:]
    assert _same(rest.best, whole.best) and whole.best is not None
    assert whole.best["reward"] == max(seen)
    saved_a = torch.load(tmp_path / "a.pt", weights_only=True)
    saved_b = torch.load(tmp_path / "b.pt", weights_only=True)
    assert _same(saved_a, saved_b)
    assert _same(agent.state_dict(), saved_a["agent"])
    # a finished run resumes to nothing
    again = run_episodes(_agent(), _env(), 10, checkpoint=tmp_path / "b.pt", settings=settings)
    assert again.resumed_from == 10 and _same(again.best, whole.best)


def test_resume_under_other_settings_is_refused(tmp_path):
    run_episodes(_agent(), _env(), 1, checkpoint=tmp_path / "c.pt", settings={"limit": 0.5})
    with pytest.raises(RunFolderError, match=r"limit 0.5 -> 0.3"):
        run_episodes(_agent(), _env(), 2, checkpoint=tmp_path / "c.pt", settings={"limit": 0.3})


def test_final_credit_gives_every_step_the_episode_reward():
    agent = _agent()
    run_episodes(agent, _env(), 1)
    rewards = agent.replay.rewards[: len(agent.replay), 0]
    assert len(agent.replay) == 5 and rewards.unique().numel() == 1 and float(rewards[0]) > 0
    step_agent = _agent()
    run_episodes(step_agent, _env(), 1, credit="step")
    assert step_agent.replay.rewards[:4, 0].tolist() == [0.0] * 4


def test_learning_after_warmup_reports_losses():
    losses = []
    run_episodes(_agent(), _env(), 5, on_episode=lambda r: losses.append(r.losses))
    assert losses[:3] == [{}, {}, {}]
    assert set(losses[3]) == {"critic_loss", "actor_loss", "baseline"}
