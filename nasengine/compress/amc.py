"""``amc``: He et al., "AMC: AutoML for Model Compression and Acceleration on Mobile Devices"
(ECCV 2018). A DDPG agent decides each layer's preserve ratio in forward order; AMC's budget
rule clips every decision so that the MACs limit (and a latency limit, predicted from the
network's latency table) stays reachable; a finished policy is
scored by pruning the network to it (channels by L1 norm, the next layers refit by least
squares, no fine-tuning) and measuring its validation accuracy. After the search, the
network is pruned with the policy of the best reward.

As in ``lasso`` (He et al. 2017), the channels that meet a shortcut are kept; the layers off
the shortcuts are decided, and for them the MACs model of the budget rule is the real
network's count, or an upper bound of it (``nasengine.compress.amc_layers``).

Each episode's reward, accuracy, MACs and agent losses go to TensorBoard
(``MethodInput.workdir / "tb"``, under ``amc/``). The search checkpoints after every
episode (``MethodInput.workdir / "amc.pt"``): an
interrupted search resumes where it stopped and ends as an uninterrupted one would, since
pruning and scoring are deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

from torch import nn

from nasengine.compress.layers import LayerInfo, PruningError, kept_channels
from nasengine.compress.method import MethodInput, Pruned
from nasengine.layer_policy import REWARDS, ChannelBudget, ChannelPruningEnv, MonotoneLimit, run_episodes
from nasengine.layer_policy.progress import EpisodeProgress
from nasengine.registry import AGENTS
from nasengine.utils.validation import finite_number, non_negative_int, one_of, positive_int, with_defaults

#: Names ``--set`` accepts, with their defaults.
DEFAULTS: dict[str, Any] = {"episodes": 200, "warmup": None, "reward": "accuracy", "lbound": 0.2, "round_to": 1}
OPTIONS = tuple(DEFAULTS)
CHECKPOINT = "amc.pt"


@dataclass(frozen=True)
class AmcSettings:
    """The search's settings (``--set KEY=VALUE``).

    Attributes:
        episodes: Episodes of the search (AMC: 400 on ImageNet).
        warmup: Episodes of random actions that only fill the replay buffer (default: a
            quarter of ``episodes``, as AMC's 100 of 400).
        reward: ``accuracy`` (AMC's resource-constrained mode) or ``error_log_macs``
            (``-error * log(MACs)``, the accuracy-guaranteed reward: below the limit,
            fewer MACs are worth some accuracy). The limit holds in both.
        lbound: The smallest preserve ratio of a layer (AMC: 0.2).
        round_to: Channel counts are multiples of this (AMC's code: 8 on ImageNet networks).
    """

    episodes: int
    warmup: int
    reward: str
    lbound: float
    round_to: int

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> AmcSettings:
        """Checked settings; a ``PruningError`` names a wrong value and what is allowed."""
        values = with_defaults("amc", options, DEFAULTS, PruningError)
        try:
            episodes = positive_int("amc setting episodes", values["episodes"])
            warmup = values["warmup"]
            warmup = episodes // 4 if warmup is None else non_negative_int("amc setting warmup", warmup)
            return cls(episodes=episodes, warmup=warmup,
                       reward=one_of("amc setting reward", values["reward"], tuple(REWARDS)),
                       lbound=finite_number("amc setting lbound", values["lbound"], low=0.0, high=1.0,
                                            low_open=True, high_open=False),
                       round_to=positive_int("amc setting round_to", values["round_to"]))
        except PruningError:
            raise
        except ValueError as exc:
            raise PruningError(str(exc)) from None


@dataclass(frozen=True)
class AmcResult:
    """What the search found.

    Attributes:
        ratios: Preserve ratio per prunable layer (1.0 for the layers on shortcuts).
        accuracy: Validation accuracy of the pruned network, before fine-tuning.
        macs: Its MACs.
        reward: Its reward.
        episode: The episode that found it (0-based).
        episodes: Episodes done in all; ``resumed_from`` of them came from the checkpoint.
        resumed_from: Episodes found in the checkpoint (0: a fresh search).
        exact: Whether the MACs model equals the network's count (else it bounds it).
    """

    ratios: dict[str, float]
    accuracy: float
    macs: float
    reward: float
    episode: int
    episodes: int
    resumed_from: int
    exact: bool


def amc_search(task: MethodInput) -> AmcResult:
    """Search per-layer preserve ratios for ``task`` with AMC (see the module).

    Raises:
        PruningError: No ``score``, a wrong setting, no layer off the shortcuts, or a
            limit that the smallest ratios cannot meet.
    """
    from nasengine.compress.amc_layers import policy_layers  # torch-pruning: only when pruning

    if task.score is None:
        raise PruningError("amc scores every policy by validation accuracy, but no score is given "
                           "(MethodInput.score: a dataset with a validation split)")
    settings = AmcSettings.from_options(task.options)
    decided = [info for info in task.layers if not info.residual]
    policy = policy_layers(task.model, task.example, decided)
    try:
        budget = ChannelBudget(policy.cost, task.limit, lbound=settings.lbound, round_to=settings.round_to,
                               other=_latency_limit(task, decided))
    except ValueError as exc:
        raise PruningError(f"amc: {exc}") from None
    env = ChannelPruningEnv(budget, _scorer(task, decided), reward=settings.reward)
    agent = AGENTS.create("ddpg", env.state_size, seed=task.seed, warmup=settings.warmup,
                          replay_size=100 * len(decided))
    checkpoint = None
    if task.workdir is not None:
        task.workdir.mkdir(parents=True, exist_ok=True)
        checkpoint = task.workdir / CHECKPOINT
    plan = {info.name: info.out_channels for info in decided}
    # what a resumed search must share with the saved one (more episodes may be asked for)
    saved = {**{k: v for k, v in asdict(settings).items() if k != "episodes"}, "limit": task.limit,
             "seed": task.seed, "layers": plan}
    if task.latency is not None:
        saved["limit_ms"] = task.latency.limit_ms
    progress = EpisodeProgress("amc", settings.episodes, task.progress,
                               lambda info: f"MACs {info['macs_ratio']:.3f} of the source",
                               tensorboard=None if task.workdir is None else task.workdir / "tb")
    try:
        run = run_episodes(agent, env, settings.episodes, checkpoint=checkpoint, settings=saved, on_episode=progress)
    finally:
        progress.close()
    best = run.best
    if best is None:  # settings.episodes >= 1, so an episode ran or was resumed
        raise RuntimeError("the search ended without an episode")
    info = best["info"]
    ratios = {layer.name: 1.0 for layer in task.layers}
    ratios.update(zip(plan, (float(r) for r in info["policy"])))
    return AmcResult(ratios=ratios, accuracy=float(info["accuracy"]), macs=float(info["macs"]),
                     reward=float(best["reward"]), episode=int(best["episode"]), episodes=run.episodes,
                     resumed_from=run.resumed_from, exact=policy.exact)


def run_amc(task: MethodInput) -> Pruned:
    """``METHODS["amc"].run``: the search, then the network pruned with its best policy."""
    ratios = amc_search(task).ratios
    return Pruned(_pruned(task, ratios), ratios)


def _latency_limit(task: MethodInput, decided: Sequence[LayerInfo]) -> MonotoneLimit | None:
    """``task.latency`` on the ratios of the ``decided`` layers (the others keep every channel)."""
    latency = task.latency
    if latency is None:
        return None
    names = [info.name for info in decided]
    return MonotoneLimit(lambda ratios: latency.predict(dict(zip(names, ratios))), latency.limit_ms, "latency_ms")


def _pruned(task: MethodInput, ratios: Mapping[str, float]) -> nn.Module:
    from nasengine.compress.prune import prune_to_ratios

    return prune_to_ratios(task.model, task.example, ratios, selection="l1", calibration=task.calibration,
                           reconstruct=True, seed=task.seed)


def _scorer(task: MethodInput, decided: Sequence[LayerInfo]) -> Callable[[list[float]], float]:
    """``ratios -> accuracy`` of the network pruned to them, once per channel plan (many
    policies round to the same channel counts)."""
    score = task.score
    assert score is not None
    cache: dict[tuple[int, ...], float] = {}

    def evaluate(ratios: list[float]) -> float:
        plan = tuple(kept_channels(r, info.out_channels) for r, info in zip(ratios, decided))
        if plan not in cache:
            cache[plan] = float(score(_pruned(task, {info.name: r for info, r in zip(decided, ratios)})))
        return cache[plan]

    return evaluate
