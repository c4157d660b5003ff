"""Optuna's TPE and NSGA-II as controllers, behind the same hard constraint."""

from __future__ import annotations

import random
from typing import Any, Mapping

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from nasengine.controller import ArchSampler
from nasengine.space import SearchSpace


class OptunaController(ArchSampler):
    """Draws whole architectures from an Optuna sampler; rejected draws are redrawn.

    Parameters that are not decisions (``lr``, ``optimizer``, ...) belong to the wrapped
    sampler too: they join its relative search space (TPE models them jointly with the
    decisions) and it samples them independently otherwise.

    Optuna's samplers keep their own random state: a search resumed with the same seed
    does not replay the same sequence (our own controllers do).
    """

    def __init__(self, space: SearchSpace, inner: optuna.samplers.BaseSampler, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed, independent_sampler=inner)  # it also gets the trial hooks
        self.inner = inner

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {**self._extra_space(study, trial), **self.distributions}

    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        free = {name: dist for name, dist in self.distributions.items() if name not in self.fixed}
        choices = dict(self.inner.sample_relative(study, trial, {**self._extra_space(study, trial), **free}))
        for name, dist in free.items():
            if name not in choices:
                choices[name] = self.inner.sample_independent(study, trial, name, dist)
        return self.pinned(choices)

    def _extra_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The inner sampler's relative search space without the decisions."""
        space = self.inner.infer_relative_search_space(study, trial)
        return {name: dist for name, dist in space.items() if name not in self.distributions}


def tpe(space: SearchSpace, *, seed: int | None = None, n_startup_trials: int = 10,
        multivariate: bool = True) -> OptunaController:
    """Optuna's Tree-structured Parzen Estimator (multivariate by default)."""
    inner = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, multivariate=multivariate)
    return OptunaController(space, inner, seed=seed)


def nsga2(space: SearchSpace, *, seed: int | None = None, population_size: int = 20,
          mutation_prob: float | None = None) -> OptunaController:
    """Optuna's NSGA-II (for multi-objective searches; works single-objective too)."""
    inner = optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size, mutation_prob=mutation_prob)
    return OptunaController(space, inner, seed=seed)
