"""``haq``: Wang et al., "HAQ: Hardware-Aware Automated Quantization with Mixed Precision"
(CVPR 2019). A DDPG agent (the one AMC uses: ``AGENTS["ddpg"]``) decides each layer's
weight bits and activation bits in forward order (``BitWidthEnv``); after the last layer
HAQ's budget rule lowers bits until the resource limit holds (``BitBudget``), and the
policy's reward is the validation accuracy of the network quantized to it.

HAQ's search defaults (``rl_quantize.py``): 20 warm-up episodes, exploration noise of 0.5
decayed by 0.99 per episode, a replay buffer of 128 transitions per decision.

One addition (``reference``, on by default): the first episode plays the largest uniform
policy that meets the limit instead of the agent's actions. It is scored and stored like
any episode, so the search never returns a policy it scored below that uniform one, and the
agent's critic learns from a good policy from the start rather than only from random
warm-up policies, most of which the budget rule cuts to 2 bits in their last layers. With
``reference=0`` every episode is the agent's, as in HAQ's code. Its code fine-tunes
each policy for an epoch before scoring it; here a policy is scored right after
quantization (activation ranges from calibration), which keeps an episode to one pass over
the validation split.

Each episode's reward, accuracy, cost and agent losses go to TensorBoard (``tb`` in its
folder, under ``haq/``). The search checkpoints after every episode (``haq.pt`` in its
folder): an interrupted search resumes where it stopped and ends as an uninterrupted one would, since scoring a
policy is deterministic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from nasengine.layer_policy import BitBudget, BitWidthEnv, run_episodes
from nasengine.layer_policy.progress import EpisodeProgress
from nasengine.quantize.layers import QuantizableLayer, QuantizeError
from nasengine.registry import AGENTS
from nasengine.utils.validation import finite_number, non_negative_int, one_of, positive_int, with_defaults

__all__ = ["CHECKPOINT", "DEFAULTS", "HaqResult", "HaqSettings", "haq_search"]

#: Names ``--set`` accepts, with their defaults.
DEFAULTS: dict[str, Any] = {"episodes": 300, "warmup": 20, "sigma": 0.5, "sigma_decay": 0.99, "reference": 1}
CHECKPOINT = "haq.pt"


@dataclass(frozen=True)
class HaqSettings:
    """The search's settings (``--set KEY=VALUE``).

    Attributes:
        episodes: Episodes of the search (HAQ: 600 on ImageNet).
        warmup: Episodes of random actions that only fill the replay buffer (HAQ: 20).
        sigma: Initial standard deviation of the exploration noise on actions in [0, 1] (HAQ: 0.5).
        sigma_decay: Per-episode decay of the exploration noise (HAQ: 0.99).
        reference: 1: the first episode plays the largest uniform policy within the limit
            (so the search never returns a policy it scored below that one, and the agent
            learns from it); 0: every episode is the agent's, as in HAQ.
    """

    episodes: int
    warmup: int
    sigma: float
    sigma_decay: float
    reference: int

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HaqSettings:
        """Checked settings; a ``QuantizeError`` names a wrong value and what is allowed."""
        values = with_defaults("haq", options, DEFAULTS, QuantizeError)
        try:
            return cls(episodes=positive_int("haq setting episodes", values["episodes"]),
                       warmup=non_negative_int("haq setting warmup", values["warmup"]),
                       sigma=finite_number("haq setting sigma", values["sigma"], low=0.0, low_open=True),
                       sigma_decay=finite_number("haq setting sigma_decay", values["sigma_decay"], low=0.0, high=1.0,
                                                 low_open=True, high_open=False),
                       reference=one_of("haq setting reference", values["reference"], (0, 1)))
        except ValueError as exc:
            raise QuantizeError(str(exc)) from None


@dataclass(frozen=True)
class HaqResult:
    """What the search found.

    Attributes:
        policy: ``(weight bits, activation bits)`` per layer.
        accuracy: Validation accuracy of the network quantized to it, before fine-tuning.
        cost: Its cost under the budget's model.
        episode: The episode that found it (0-based).
        episodes: Episodes done in all; ``resumed_from`` of them came from the checkpoint.
        resumed_from: Episodes found in the checkpoint (0: a fresh search).
    """

    policy: list[tuple[int, int]]
    accuracy: float
    cost: float
    episode: int
    episodes: int
    resumed_from: int


def haq_search(layers: Sequence[QuantizableLayer], budget: BitBudget,
               evaluate: Callable[[list[tuple[int, int]]], float], *, options: Mapping[str, Any] | None = None,
               seed: int = 0, workdir: Path | None = None, progress: bool = False,
               describe: Callable[[Mapping[str, Any]], str] = lambda info: f"cost {info['cost']:.6g}") -> HaqResult:
    """Search per-layer bits with HAQ (see the module).

    Args:
        layers: The quantizable layers, in order.
        budget: Their bit bounds, cost model and limit.
        evaluate: Validation accuracy of the network quantized to a policy.
        options: ``--set`` settings (:data:`DEFAULTS`).
        seed: Seeds the agent.
        workdir: Folder of the search's checkpoint (``None``: no checkpoint).
        progress: Report progress on stderr.
        describe: The cost of an episode's ``info`` as text, for the progress lines.

    Raises:
        QuantizeError: A wrong setting.
    """
    settings = HaqSettings.from_options(options or {})
    cache: dict[tuple[tuple[int, int], ...], float] = {}

    def score(policy: list[tuple[int, int]]) -> float:
        key = tuple((int(w), int(a)) for w, a in policy)
        if key not in cache:
            cache[key] = float(evaluate(list(key)))
        return cache[key]

    try:
        env = BitWidthEnv(layers, budget, score)
    except ValueError:
        raise QuantizeError("haq has nothing to search: every layer's bits are fixed (by --min-bits = --max-bits, "
                            "--first-last-bits or --act-bits); use --method uniform, or widen the bit range") from None
    agent = AGENTS.create("ddpg", env.state_size, seed=seed, warmup=settings.warmup, sigma=settings.sigma,
                          sigma_decay=settings.sigma_decay,
                          replay_size=128 * len(env.decisions))
    checkpoint = None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        checkpoint = workdir / CHECKPOINT
    # what a resumed search must share with the saved one (more episodes may be asked for)
    saved = {**{k: v for k, v in asdict(settings).items() if k != "episodes"}, "limit": budget.limit, "seed": seed,
             "bounds": budget.bounds, "layers": [layer.name for layer in layers]}
    report = EpisodeProgress("haq", settings.episodes, progress, describe,
                             tensorboard=None if workdir is None else workdir / "tb")
    try:
        run = run_episodes(agent, env, settings.episodes, checkpoint=checkpoint, settings=saved, on_episode=report,
                           scripted=[env.reference_actions()] if settings.reference else [])
    finally:
        report.close()
    best = run.best
    if best is None:  # settings.episodes >= 1, so an episode ran or was resumed
        raise RuntimeError("the search ended without an episode")
    info = best["info"]
    return HaqResult(policy=[(int(w), int(a)) for w, a in info["policy"]], accuracy=float(info["accuracy"]),
                     cost=float(info["cost"]), episode=int(best["episode"]), episodes=run.episodes,
                     resumed_from=run.resumed_from)
