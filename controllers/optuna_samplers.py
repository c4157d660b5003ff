"""Optuna's TPE and NSGA-II as controllers, behind the same hard constraint."""

from __future__ import annotations

import random
from typing import Any, Mapping

import optuna
from optuna.trial import FrozenTrial

from nasengine.controller import ArchSampler
from nasengine.space import SearchSpace


class OptunaController(ArchSampler):
    """Draws whole architectures from an Optuna sampler; rejected draws are redrawn.

    Optuna's samplers keep their own random state: a search resumed with the same seed
    does not replay the same sequence (our own controllers do).
    """

    def __init__(self, space: SearchSpace, inner: optuna.samplers.BaseSampler, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self.inner = inner

    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        choices = dict(self.inner.sample_relative(study, trial, dict(self.distributions)))
        for name, dist in self.distributions.items():
            if name not in choices:
                choices[name] = self.inner.sample_independent(study, trial, name, dist)
        return choices

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: Any, values: Any) -> None:
        self.inner.after_trial(study, trial, state, values)


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
