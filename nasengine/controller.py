"""The controller base class: an Optuna sampler that proposes whole architectures.

Every search is an Optuna study; a controller plugs in as its sampler. The base class
does the Optuna plumbing and the hard constraint: it asks ``propose`` for candidates
until one is feasible (bounded tries, then a constrained random fallback), so an
infeasible architecture never becomes a trial. Randomness is derived from
``(seed, trial number)``: a resumed or multi-worker search stays reproducible.

Parameters that are not decisions of the space (``trial.suggest_float("lr", ...)``) go
to an independent sampler; decisions can be pinned with ``fix``; and ``sample_relative``
answers for exactly the decisions its ``search_space`` asks for, so Optuna's wrappers
such as ``PartialFixedSampler`` work around any controller.
"""

from __future__ import annotations

import abc
import random
from typing import Any, Callable, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from nasengine.arch import Arch, ArchError
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
        independent_sampler: Samples the parameters that are not decisions of the space
            (learning rates, optimizers, ...). ``None``: an ``optuna.samplers.RandomSampler``
            seeded per ``(seed, trial number, parameter)``, so that seeded and resumed runs
            draw the same values.
    """

    def __init__(self, space: SearchSpace, *, seed: int | None = None, max_tries: int = 200,
                 independent_sampler: optuna.samplers.BaseSampler | None = None) -> None:
        if independent_sampler is not None and not isinstance(independent_sampler, optuna.samplers.BaseSampler):
            raise ValueError("independent_sampler must be an optuna.samplers.BaseSampler or None, "
                             f"got {type(independent_sampler).__name__}")
        self.space = space
        self.seed = random.randrange(2**31) if seed is None else int(seed)
        self.max_tries = max_tries
        self.independent_sampler = independent_sampler
        self.feasible: Feasible = lambda arch: True
        self.fixed: dict[str, Any] = {}
        self.distributions: dict[str, BaseDistribution] = {
            d.name: CategoricalDistribution(d.options) for d in space.decisions()
        }

    # --- what a controller implements ----------------------------------------------------
    @abc.abstractmethod
    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        """One candidate's choices of every decision (feasibility is checked by the caller).

        Fixed decisions (``fix``) are overwritten by their values; other keys are values of
        non-decision parameters of the relative search space (only kept if it asks for them).
        """

    def state(self) -> dict[str, Any] | None:
        """Learned state to checkpoint with the run (``None``: nothing to save)."""
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``state`` returned."""

    # --- configuration ----------------------------------------------------------------------
    def set_constraint(self, feasible: Feasible) -> None:
        """Hard constraint checked before any architecture is handed out."""
        self.feasible = feasible

    def fix(self, choices: Mapping[str, Any]) -> None:
        """Pin decisions to one option each (replacing earlier pins; ``{}`` frees all).

        Every proposal then carries these values, so the hard constraint is checked on the
        architecture that is actually evaluated.

        Raises:
            ValueError: A name is not a decision of the space, or a value is not one of
                that decision's options.
        """
        pinned: dict[str, Any] = {}
        for name, value in choices.items():
            if name not in self.distributions:
                raise ValueError(f"cannot fix {name!r}: not a decision of space {self.space.name!r}; "
                                 f"decisions are {list(self.distributions)}")
            decision = self.space.decision(name)
            try:
                pinned[name] = decision.options[decision.index(value)]
            except ArchError:
                raise ValueError(f"cannot fix {name}={value!r}: the options of {name!r} are "
                                 f"{list(decision.options)}") from None
        self.fixed = pinned

    # --- helpers for controllers ------------------------------------------------------------
    def rng_for(self, trial: FrozenTrial, salt: str = "") -> random.Random:
        return random.Random(f"{self.seed}:{trial.number}:{salt}")

    def pinned(self, choices: Mapping[str, Any]) -> dict[str, Any]:
        """``choices`` with the fixed decisions set to their values."""
        return {**choices, **self.fixed}

    def free_option_counts(self) -> tuple[int, ...]:
        """Options per decision in ``decisions()`` order, 1 for a fixed decision: what a
        variation operator may change (a mutation then never spends itself on a pin)."""
        return tuple(1 if d.name in self.fixed else len(d.options) for d in self.space.decisions())

    def arch_of(self, trial: FrozenTrial) -> Arch:
        """The trial's architecture, from its decision parameters only (others are ignored).

        Raises:
            ArchError: The trial lacks a decision or holds a value this space does not allow
                (e.g. a trial of another space config in a shared study).
        """
        return self.space.arch({n: v for n, v in trial.params.items() if n in self.distributions})

    # --- plumbing ---------------------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.distributions)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """A feasible proposal, restricted to the parameters ``search_space`` asks for."""
        if not any(name in self.distributions for name in search_space):
            return {}
        arch, extra = self._feasible_proposal(study, trial)
        sampled = {name: value for name, value in extra.items() if name in search_space}
        sampled.update((name, arch.choices[name]) for name in search_space if name in self.distributions)
        return sampled

    def _feasible_proposal(self, study: optuna.Study, trial: FrozenTrial) -> tuple[Arch, dict[str, Any]]:
        """The first feasible proposal and its non-decision values (none after the fallback)."""
        rng = self.rng_for(trial)
        for _ in range(self.max_tries):
            proposal = self.propose(study, trial, rng)
            choices = self.pinned({n: v for n, v in proposal.items() if n in self.distributions})
            try:
                arch = self.space.arch(choices)
            except ArchError:
                if not self.fixed:
                    raise  # a proposal that is not an architecture is a bug of the controller
                continue  # the pinned values break a rule spanning decisions: propose again
            if self.feasible(arch):
                return arch, {n: v for n, v in proposal.items() if n not in self.distributions}
        return constrained_random(self.space, self.feasible, rng, fixed=self.fixed), {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        # Reached for parameters outside the relative sample: non-decisions, and decisions
        # a wrapper (e.g. PartialFixedSampler) took out of the relative search space.
        if param_name in self.fixed and self.distributions[param_name] == param_distribution:
            return self.fixed[param_name]
        sampler = self.independent_sampler
        if sampler is None:
            sampler = optuna.samplers.RandomSampler(seed=self.rng_for(trial, param_name).getrandbits(32))
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.independent_sampler is not None:
            self.independent_sampler.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        if self.independent_sampler is not None:
            self.independent_sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        # Our own draws are seeded per trial; only a given independent sampler has a state.
        if self.independent_sampler is not None:
            self.independent_sampler.reseed_rng()


def constrained_random(space: SearchSpace, feasible: Feasible, rng: random.Random, tries: int = 10_000,
                       *, fixed: Mapping[str, Any] | None = None) -> Arch:
    """A uniformly random feasible architecture (rejection sampling, bounded); ``fixed``
    decisions keep their given values."""
    for _ in range(tries):
        arch = space.sample(rng)
        if fixed:
            try:
                arch = space.arch({**arch.choices, **fixed})
            except ArchError:
                continue
        if feasible(arch):
            return arch
    pinned = f" with {dict(fixed)} fixed" if fixed else ""
    raise InfeasibleError(f"no feasible architecture of {space.name!r}{pinned} in {tries:,} random samples; "
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


def oriented_values(trial: FrozenTrial, directions: Sequence[StudyDirection]) -> tuple[float, ...]:
    """The trial's objective values, each signed so that larger is better for the study.

    Learners compare trials with it (minimised objectives are negated), so that every
    controller follows ``study.directions`` however the objectives are written.

    Raises:
        ValueError: ``directions`` does not have one entry per objective value.
    """
    values = trial.values
    if values is None or len(values) != len(directions):
        raise ValueError(f"trial {trial.number} has values {values} but the study has {len(directions)} "
                         "direction(s); give one direction per objective")
    return tuple(-float(v) if d == StudyDirection.MINIMIZE else float(v) for v, d in zip(values, directions))


def suggest_arch(trial: optuna.Trial, space: SearchSpace) -> Arch:
    """Ask the trial for every decision (the sampler's relative proposal fills them)."""
    return space.arch({d.name: trial.suggest_categorical(d.name, d.options) for d in space.decisions()})
