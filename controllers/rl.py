"""The RL controller: an LSTM policy trained with REINFORCE (Zoph & Le 2017; ENAS 2018).

Before proposing for a trial, the controller makes one policy-gradient step for every
completed trial of the study it has not learned from yet (all workers' trials, in
trial-number order): the log-probability of that trial's architecture under the current
policy (teacher forcing) times its advantage over an exponential-moving-average baseline,
plus an entropy bonus. Then it samples an architecture with a ``torch.Generator`` seeded
from the trial's rng.

Each step depends only on the policy, the optimizer state, the baseline and that one
trial, so the learning sequence is the same however the trials arrive in batches: a fresh
controller that finds trials 0..7 in the storage makes exactly the 8 steps an uninterrupted
one made, one per trial, and proposes the same architectures. ``state()`` / ``restore()``
skip that replay. The policy lives on the CPU and computes single-threaded (tiny tensors:
its arithmetic is then bit-identical run after run on one machine, whatever the user's
thread count); the thread count is restored afterwards, and no other global torch flag
(deterministic algorithms, global seed) is touched.
"""

from __future__ import annotations

import copy
import math
import random
import threading
from typing import Any, Iterable, Mapping, Sequence

import optuna
import torch
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from controllers.rl_policy import PolicyNet
from nasengine.arch import Arch, ArchError
from nasengine.controller import ArchSampler, completed_trials, oriented_values
from nasengine.space import SearchSpace
from nasengine.utils.threads import one_thread
from nasengine.utils.validation import boolean, finite_number, positive_int

_STATE_FORMAT = 1


class RLController(ArchSampler):
    """LSTM policy over the space's decisions, trained by REINFORCE on trial scores.

    The score is the first objective, negated when the study minimises it (so the policy
    always climbs towards the study's direction); parameters that are not decisions are
    ignored when learning.

    Args:
        space: The search space.
        seed: Seeds the policy's initial weights and, with the trial number, sampling.
        max_tries: Proposals per trial before the base class falls back to random.
        hidden_size: LSTM width (ENAS's CIFAR controller uses 64).
        num_layers: Stacked LSTM layers (ENAS: 1; Zoph & Le: 2).
        temperature: Divide logits by this before the tanh; ``None`` for no division.
        tanh_constant: Bound logits to ``c * tanh(logits)`` (ENAS: 1.1 to 2.5); ``None``
            leaves them unbounded.
        lr: Adam learning rate. ENAS uses 3.5e-3 (CIFAR) over thousands of controller
            steps; here there is one step per trial, and 5e-3 learned best within 60-300
            trials on the synthetic score (1e-2 is faster on tiny spaces but settles early;
            3e-2 and more are unstable).
        entropy_weight: Weight of the policy entropy bonus (keeps exploring). Advantages
            are normalised, so 1e-3 matches ENAS's 1e-4 at its advantage scale of ~0.1.
        baseline_decay: EMA decay of the reward baseline (and of the advantage RMS), in
            [0, 1).
        normalize: Divide advantages by their running RMS, so that learning does not
            depend on the reward's units or spread.
        cost_target: MACs target for MnasNet-style shaping ``score * (macs / target) ** w``
            (see ``reward``); ``None`` uses the score as the reward.
        cost_weight: The exponent ``w`` (MnasNet: -0.07); 0 or negative so that exceeding
            the target lowers the reward.
        dedup: Resample (up to ``dedup_tries`` times) an architecture that is already a
            trial of the study: once the policy sharpens, re-evaluating its favourite
            wastes the budget.
        dedup_tries: Samples drawn per proposal while looking for an unseen architecture.
        independent_sampler: Samples the parameters that are not decisions (see ``ArchSampler``).
    """

    def __init__(self, space: SearchSpace, *, seed: int | None = None, max_tries: int = 200,
                 hidden_size: int = 64, num_layers: int = 1, temperature: float | None = None,
                 tanh_constant: float | None = 2.5, lr: float = 5e-3, entropy_weight: float = 1e-3,
                 baseline_decay: float = 0.95, normalize: bool = True,
                 cost_target: float | None = None, cost_weight: float = -0.07, dedup: bool = True,
                 dedup_tries: int = 50, independent_sampler: optuna.samplers.BaseSampler | None = None) -> None:
        super().__init__(space, seed=seed, max_tries=max_tries, independent_sampler=independent_sampler)
        positive_int("hidden_size", hidden_size)
        positive_int("num_layers", num_layers)
        self.temperature = _optional_positive("temperature", temperature)
        self.tanh_constant = _optional_positive("tanh_constant", tanh_constant)
        self.lr = finite_number("lr", lr, low=0.0, low_open=True)
        self.entropy_weight = finite_number("entropy_weight", entropy_weight, low=0.0)
        self.baseline_decay = finite_number("baseline_decay", baseline_decay, low=0.0, high=1.0)
        self.normalize = boolean("normalize", normalize)
        self.dedup = boolean("dedup", dedup)
        self.dedup_tries = positive_int("dedup_tries", dedup_tries)
        self._seen: set[tuple] = set()
        self.cost_target = _optional_positive("cost_target", cost_target)
        self.cost_weight = finite_number("cost_weight", cost_weight, high=0.0, high_open=False)
        self.decisions = space.decisions()
        with torch.random.fork_rng(devices=[]):  # seeded init without touching global state
            torch.manual_seed(self.seed)
            self.policy = PolicyNet(self.decisions, hidden_size=hidden_size, num_layers=num_layers,
                                    temperature=self.temperature, tanh_constant=self.tanh_constant)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.lr)
        self.baseline: float | None = None
        self.spread = [0.0, 0.0]  # EMA of squared advantages and its weight (bias correction)
        self.learned: set[int] = set()
        #: One dict per learned trial, for reward curves: trial, accuracy (the first
        #: objective as the trial reported it), reward, baseline
        #: (before this trial), advantage, scaled_advantage, entropy; a trial that could
        #: not be learned from has only trial and skipped (the reason).
        self.log: list[dict[str, Any]] = []
        self._synced_for: int | None = None
        self._lock = threading.Lock()  # study.optimize(n_jobs>1) calls from several threads

    # --- the sampler -------------------------------------------------------------------------
    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        with self._lock, one_thread():
            if self._synced_for != trial.number:  # rejection retries reuse one sync
                self.learn(completed_trials(study), study.directions)
                self._synced_for = trial.number
                if self.dedup:
                    self._seen = {self._key(t.params) for t in study.get_trials(deepcopy=False)
                                  if t.number != trial.number and t.params}
            generator = torch.Generator().manual_seed(rng.getrandbits(63))
            with torch.no_grad():
                for _ in range(self.dedup_tries if self.dedup else 1):
                    picked, _, _ = self.policy.walk(generator=generator)
                    choices = self.pinned({d.name: d.options[k] for d, k in zip(self.decisions, picked)})
                    if self._key(choices) not in self._seen:
                        break
        return choices

    def _key(self, choices: Mapping[str, Any]) -> tuple:
        return tuple(repr(choices.get(d.name)) for d in self.decisions)

    # --- learning ------------------------------------------------------------------------------
    def learn(self, trials: Iterable[FrozenTrial], directions: Sequence[StudyDirection] | None = None) -> int:
        """One REINFORCE step per completed trial not learned yet, in trial-number order.

        ``propose`` calls it (under the controller's lock) with the study's completed
        trials and directions; call it directly to warm-start from trials of another source.

        Args:
            trials: Completed trials (others' decisions or spaces are skipped and logged).
            directions: The study's direction per objective; ``None`` maximises them all.

        Returns:
            How many trials were new.
        """
        new = sorted((t for t in trials if t.number not in self.learned), key=lambda t: t.number)
        with one_thread():
            for t in new:
                self._learn_one(t, directions or [StudyDirection.MAXIMIZE] * len(t.values))
                self.learned.add(t.number)
        return len(new)

    def reward(self, score: float, arch: Arch) -> float:
        """The shaped reward ``score * f`` with ``f = (macs / cost_target) ** cost_weight``
        (MnasNet), or ``score / f`` for a negative score (a negated minimised objective), so
        that exceeding the target lowers the reward in both directions."""
        if self.cost_target is None:
            return score
        macs = max(self.space.cost(arch).macs, 1)
        factor = (macs / self.cost_target) ** self.cost_weight
        return score * factor if score >= 0 else score / factor

    def _learn_one(self, trial: FrozenTrial, directions: Sequence[StudyDirection]) -> None:
        entry: dict[str, Any] = {"trial": trial.number}
        try:
            arch = self.arch_of(trial)
        except ArchError as exc:  # e.g. a trial of another space config in a shared study
            self.log.append({**entry, "skipped": str(exc)})
            return
        accuracy = float(trial.values[0])
        reward = self.reward(oriented_values(trial, directions)[0], arch)
        if not math.isfinite(reward):
            self.log.append({**entry, "skipped": f"non-finite reward {reward!r}"})
            return
        if self.baseline is None:
            self.baseline = reward  # a zero start would make the first dozen advantages huge
        advantage = reward - self.baseline
        scaled = advantage / self._scale(advantage) if self.normalize else advantage
        indices = [d.index(arch.choices[d.name]) for d in self.decisions]
        _, log_prob, entropy = self.policy.walk(indices)
        loss = -(scaled * log_prob + self.entropy_weight * entropy)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.log.append({**entry, "accuracy": accuracy, "reward": reward, "baseline": self.baseline,
                         "advantage": advantage, "scaled_advantage": scaled,
                         "entropy": float(entropy.detach())})
        self.baseline = self.baseline_decay * self.baseline + (1.0 - self.baseline_decay) * reward

    def _scale(self, advantage: float) -> float:
        """Running RMS of the advantages, this one included (bias-corrected EMA).

        Dividing by it makes learning independent of the reward's units (accuracies of
        0.90 +- 0.01 learn like scores of 0.5 +- 0.2) and bounds each scaled advantage
        by about ``1 / sqrt(1 - baseline_decay)``.
        """
        d = self.baseline_decay
        self.spread = [d * self.spread[0] + (1 - d) * advantage**2, d * self.spread[1] + (1 - d)]
        rms = math.sqrt(self.spread[0] / self.spread[1]) if self.spread[1] > 0 else 0.0
        return rms if rms > 1e-12 else 1.0

    # --- checkpointing -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """A snapshot: policy and Adam state, baseline, learned trial numbers, the log."""
        with self._lock:
            return {
                "format": _STATE_FORMAT,
                "decisions": self._signature(),
                "policy": copy.deepcopy(self.policy.state_dict()),
                "optimizer": copy.deepcopy(self.optimizer.state_dict()),
                "baseline": self.baseline,
                "spread": list(self.spread),
                "learned": sorted(self.learned),
                "log": copy.deepcopy(self.log),
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a ``state()`` snapshot; ``ValueError`` if it was saved for other decisions."""
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(f"RL controller state format {state.get('format')!r} is not {_STATE_FORMAT}")
        if [tuple(s) for s in state["decisions"]] != self._signature():
            raise ValueError("RL controller state was saved for other decisions "
                             f"(space {self.space.name!r} now has {len(self.decisions)}); cannot restore")
        with self._lock:
            self.policy.load_state_dict(state["policy"])
            self.optimizer.load_state_dict(state["optimizer"])
            for group in self.optimizer.param_groups:  # the current configuration wins
                group["lr"] = self.lr
            self.baseline = state["baseline"]
            self.spread = list(state["spread"])
            self.learned = set(state["learned"])
            self.log = copy.deepcopy(list(state["log"]))
            self._synced_for = None

    def _signature(self) -> list[tuple[str, int, str]]:
        return [(d.name, len(d.options), d.kind) for d in self.decisions]



def _optional_positive(name: str, value: Any) -> float | None:
    if value is None:
        return None
    return finite_number(name, value, low=0.0, low_open=True)
