"""The episode loop of a per-layer policy search, resumable after every episode.

AMC and HAQ train their agent the same way (``train`` in AMC's ``amc_search.py``): an
episode runs the environment to its end, then every transition of the episode is stored
with the episode's final reward (the only informative one: intermediate steps give 0) and
followed by one update of the agent. Here that is ``credit="final"``; ``"step"`` keeps
each step's own reward.

After every episode the agent's whole state, the best episode so far (its reward, actions
and the environment's ``info``, e.g. the clipped ratios) and the number of episodes done
are saved to ``checkpoint`` at once (written then renamed). A run that finds that file
continues after its last episode, exactly as if it had not stopped, provided the
environment scores a policy the same way every time; a checkpoint saved under other
``settings`` is refused with the differences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from nasengine.agent import Agent
from nasengine.utils.files import jsonable, save_atomic
from nasengine.utils.run_folder import require_same
from nasengine.utils.safe_load import load_checkpoint
from nasengine.utils.validation import non_negative_int, one_of

__all__ = ["EpisodeResult", "EpisodeRun", "PolicyEnv", "run_episodes"]

_FORMAT = 1


class PolicyEnv(Protocol):
    """What ``run_episodes`` drives (the classic Gym interface)."""

    def reset(self) -> np.ndarray: ...

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, Mapping[str, Any]]: ...


@dataclass(frozen=True)
class EpisodeResult:
    """One finished episode, as ``on_episode`` receives it."""

    episode: int  #: 0-based
    reward: float  #: the final step's reward
    actions: list[list[float]]  #: the agent's actions, step by step (before the environment clips them)
    info: dict[str, Any]  #: the final step's info, as plain data
    losses: dict[str, float]  #: the agent's losses averaged over the episode's updates ({} in warm-up)
    best: bool  #: whether it is the best episode so far


@dataclass
class EpisodeRun:
    """What ``run_episodes`` did."""

    episodes: int  #: episodes done in all, resumed ones included
    resumed_from: int  #: episodes found in the checkpoint (0: a fresh start)
    best: dict[str, Any] | None = field(default=None)  #: episode, reward, actions, info of the best episode


def run_episodes(agent: Agent, env: PolicyEnv, episodes: int, *, checkpoint: str | Path | None = None,
                 settings: Mapping[str, Any] | None = None, on_episode: Callable[[EpisodeResult], None] | None = None,
                 credit: str = "final", scripted: Sequence[Sequence[np.ndarray]] = ()) -> EpisodeRun:
    """Train ``agent`` on ``env`` until ``episodes`` episodes are done.

    Args:
        agent: The agent; when resuming, a fresh one built with the same options.
        env: The environment.
        episodes: Episodes to have done in all (a resumed run does the rest).
        checkpoint: File saved after every episode and resumed from when it exists.
        settings: Plain data saved with the checkpoint; resuming under other settings
            raises ``RunFolderError`` naming the differences.
        on_episode: Called after each episode is saved (progress, logging); whatever it
            raises stops the run, which resumes from the next episode.
        credit: ``"final"`` (AMC, HAQ) or ``"step"``, see the module.
        scripted: Action sequences that the first episodes play instead of the agent's
            (e.g. a reference policy); the agent stores and learns from them as from its own.
    """
    non_negative_int("episodes", episodes)
    one_of("credit", credit, ("final", "step"))
    path = None if checkpoint is None else Path(checkpoint)
    settings = jsonable(dict(settings or {}))
    done, best = 0, None
    if path is not None and path.exists():
        saved = load_checkpoint(path, what="policy search checkpoint",
                                required=("format", "settings", "episodes", "agent", "best"))
        if saved["format"] != _FORMAT:
            raise ValueError(f"policy search checkpoint {str(path)!r} has format {saved['format']!r}, not {_FORMAT}")
        require_same(str(path), saved["settings"], settings,
                     hint="pass the same settings, or remove the checkpoint to start over")
        agent.load_state_dict(saved["agent"])
        done, best = int(saved["episodes"]), saved["best"]
    resumed_from = done
    while done < episodes:
        result = _episode(agent, env, done, credit, best, scripted[done] if done < len(scripted) else None)
        if result.best:
            best = {"episode": result.episode, "reward": result.reward, "actions": result.actions,
                    "info": result.info}
        done += 1
        if path is not None:
            save_atomic({"format": _FORMAT, "settings": settings, "episodes": done, "agent": agent.state_dict(),
                         "best": best}, path)
        if on_episode is not None:
            on_episode(result)
    return EpisodeRun(episodes=done, resumed_from=resumed_from, best=best)


def _episode(agent: Agent, env: PolicyEnv, episode: int, credit: str, best: Mapping[str, Any] | None,
             script: Sequence[np.ndarray] | None) -> EpisodeResult:
    state = np.asarray(env.reset())
    steps: list[tuple[np.ndarray, np.ndarray, float, np.ndarray, bool]] = []
    done = False
    while not done:
        if script is not None:
            if len(steps) >= len(script):
                raise ValueError(f"scripted episode {episode} has {len(script)} actions; the environment wants more")
            action = np.asarray(script[len(steps)], dtype=np.float64).reshape(-1)
        else:
            action = np.asarray(agent.act(state, explore=True), dtype=np.float64).reshape(-1)
        next_state, reward, done, info = env.step(action)
        next_state = np.asarray(next_state)
        steps.append((state, action, float(reward), next_state, bool(done)))
        state = next_state
    final = steps[-1][2]
    sums: dict[str, float] = {}
    updates = 0
    for s, a, r, s1, d in steps:
        agent.observe(s, a, final if credit == "final" else r, s1, d)
        losses = agent.update()
        updates += bool(losses)
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + value
    agent.end_episode()
    return EpisodeResult(episode=episode, reward=final, actions=[a.tolist() for _, a, *_ in steps],
                         info=_plain(info), losses={k: v / updates for k, v in sums.items()},
                         best=best is None or final > best["reward"])


def _plain(info: Mapping[str, Any]) -> dict[str, Any]:
    """``info`` as JSON-like data (numpy numbers and arrays become lists and floats)."""
    return json.loads(json.dumps(dict(info), default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
