"""Aging (regularized) evolution (Real et al. 2019, "Regularized Evolution for Image
Classifier Architecture Search").

The population is a queue of the last ``population_size`` completed trials, in trial
order: the oldest leaves as each new one completes, however good it was (the "aging"
that regularises the search). Each new trial is a copy of a tournament winner, the best
of ``sample_size`` population members drawn at random, with exactly one decision moved
to another option. Until the queue is full, trials are uniformly random.

Everything is read back from the study's completed trials, so a resumed or multi-worker
search needs no checkpoint, and a single worker replays exactly (proposals depend on the
seed, the trial number and the trials before it).
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import optuna
from optuna.trial import FrozenTrial

from controllers.evolution import mutate, rank_trials
from nasengine.arch import ArchError
from nasengine.controller import ArchSampler, completed_trials
from nasengine.space import SearchSpace
from nasengine.utils.validation import positive_int


class AgingEvolutionController(ArchSampler):
    """Regularized evolution: tournament selection, one-decision mutation, oldest out.

    Args:
        space: The search space.
        seed: Base seed; each trial's randomness comes from ``(seed, trial.number)``.
        max_tries: Proposals the base class tries per trial (see ``ArchSampler``).
        population_size: ``P``, the completed trials the population holds (Real et al.
            use 100 for 20,000 evaluations; 20 suits proxy searches of 50-200 trials).
            The first ``P`` trials are random.
        sample_size: ``S``, the tournament size: members drawn without replacement, at
            least 1 and at most ``population_size`` (Real et al.: 25 of 100). Larger is
            greedier; ``S = P`` always mutates the population's best.
        independent_sampler: Samples the parameters that are not decisions (see ``ArchSampler``).
    """

    def __init__(self, space: SearchSpace, *, seed: int | None = None, max_tries: int = 200,
                 population_size: int = 20, sample_size: int = 5,
                 independent_sampler: optuna.samplers.BaseSampler | None = None) -> None:
        super().__init__(space, seed=seed, max_tries=positive_int("max_tries", max_tries),
                         independent_sampler=independent_sampler)
        self.population_size = positive_int("population_size", population_size)
        self.sample_size = positive_int("sample_size", sample_size)
        if self.sample_size > self.population_size:
            raise ValueError(f"sample_size must be at most population_size ({self.population_size}), "
                             f"got {self.sample_size}")
        self._decisions = space.decisions()
        self._members: tuple[int, list[FrozenTrial]] | None = None  # (trial number, population)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        super().before_trial(study, trial)
        self._members = None  # a new trial: the study may have changed since the last one

    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        cached = self._members
        if cached is None or cached[0] != trial.number:  # rejected proposals reuse one read
            cached = self._members = (trial.number, self.population(study))
        population = cached[1]
        if len(population) < self.population_size:
            return self.space.sample(rng).choices
        # Without replacement (the paper's code draws with it): S members are S trials, and
        # S = P makes the tournament the whole population.
        drawn = rng.sample(population, self.sample_size)
        winner = self.arch_of(rank_trials(drawn, study.directions)[0])
        key = tuple(d.index(winner.choices[d.name]) for d in self._decisions)
        child = mutate(key, self.free_option_counts(), 0.0, rng)  # probability 0: exactly one decision moves
        return {d.name: d.options[i] for d, i in zip(self._decisions, child)}

    def population(self, study: optuna.Study) -> list[FrozenTrial]:
        """The last ``population_size`` completed trials that are architectures of the space."""
        members = []
        for trial in completed_trials(study):
            try:
                self.arch_of(trial)
            except ArchError:  # e.g. a trial of another space config in a shared study
                continue
            members.append(trial)
        return members[-self.population_size:]
