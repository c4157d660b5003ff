"""The controller base class: an Optuna sampler that proposes whole architectures.

Every search is an Optuna study; a controller plugs in as its sampler. The base class
does the Optuna plumbing and the hard constraint: it asks ``propose`` for candidates
until one is feasible (bounded tries, then a constrained random fallback), so an
infeasible architecture never becomes a trial. Randomness is derived from
``(seed, trial number)``: a resumed or multi-worker search stays reproducible.
"""

from __future__ import annotations

import abc
import random
from typing import Any, Callable, Mapping

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from nasengine.arch import Arch
from nasengine.space import SearchSpace

Feasible = Callable[[Arch], bool]


class InfeasibleError(RuntimeError):
    """No feasible architecture could be found within the tries allowed."""


class ArchSampler(optuna.samplers.BaseSampler, abc.ABC):
    """Base of all controllers. Subclasses implement ``propose``; hooks are optional.

    Args:
        space: The search space whose decisions become Optuna categorical parameters.
        seed: Base seed; each trial's randomness comes from ``(seed, trial.number)``.
        max_tries: Proposals tried per trial before falling back to constrained random
            sampling.
    """

    def __init__(self, space: SearchSpace, *, seed: int | None = None, max_tries: int = 200) -> None:
        self.space = space
        self.seed = random.randrange(2**31) if seed is None else int(seed)
        self.max_tries = max_tries
        self.feasible: Feasible = lambda arch: True
        self.distributions: dict[str, BaseDistribution] = {
            d.name: CategoricalDistribution(d.options) for d in space.decisions()
        }

    # --- what a controller implements ----------------------------------------------------
    @abc.abstractmethod
    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        """One candidate's choices (feasibility is checked by the caller)."""

    def state(self) -> dict[str, Any] | None:
        """Learned state to checkpoint with the run (``None``: nothing to save)."""
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``state`` returned."""

    # --- plumbing ---------------------------------------------------------------------------
    def set_constraint(self, feasible: Feasible) -> None:
        """Hard constraint checked before any architecture is handed out."""
        self.feasible = feasible

    def rng_for(self, trial: FrozenTrial, salt: str = "") -> random.Random:
        return random.Random(f"{self.seed}:{trial.number}:{salt}")

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.distributions)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        rng = self.rng_for(trial)
        for _ in range(self.max_tries):
            arch = self.space.arch(self.propose(study, trial, rng))
            if self.feasible(arch):
                return dict(arch.choices)
        return dict(constrained_random(self.space, self.feasible, rng).choices)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        # Only reached for parameters outside the space's decisions.
        choices = getattr(param_distribution, "choices", None)
        if choices is None:
            raise ValueError(f"controllers only handle categorical parameters, not {param_name!r}")
        return self.rng_for(trial, param_name).choice(choices)


def constrained_random(space: SearchSpace, feasible: Feasible, rng: random.Random, tries: int = 10_000) -> Arch:
    """A uniformly random feasible architecture (rejection sampling, bounded)."""
    for _ in range(tries):
        arch = space.sample(rng)
        if feasible(arch):
            return arch
    raise InfeasibleError(f"no feasible architecture of {space.name!r} in {tries:,} random samples; "
                          "the constraint is too tight for this space")


def distinct_random(space: SearchSpace, feasible: Feasible, k: int, rng: random.Random,
                    draws_per_arch: int = 200) -> list[Arch]:
    """``k`` distinct feasible architectures, in the order ``rng`` draws them (bounded).

    Raises:
        ValueError: Fewer than ``k`` distinct feasible archs turned up in
            ``draws_per_arch * k`` draws (the message says how many did): ``k`` asks too
            much of the space under its limits.
    """
    found: dict[str, Arch] = {}
    for _ in range(draws_per_arch * k):
        arch = space.sample(rng)
        if feasible(arch):
            found.setdefault(arch.id, arch)
            if len(found) == k:
                return list(found.values())
    raise ValueError(f"found only {len(found)} distinct archs under the limit in {draws_per_arch * k:,} "
                          f"draws; ask for fewer than {k}")


def completed_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Finished trials in trial-number order (all workers' trials when storage is shared)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(trials, key=lambda t: t.number)


def reward_of(trial: FrozenTrial) -> float:
    """The accuracy objective of a trial (the first objective)."""
    return float(trial.values[0])


def suggest_arch(trial: optuna.Trial, space: SearchSpace) -> Arch:
    """Ask the trial for every decision (the sampler's relative proposal fills them)."""
    return space.arch({d.name: trial.suggest_categorical(d.name, d.options) for d in space.decisions()})
