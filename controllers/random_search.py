"""Uniform random search under the hard constraint (rejection sampling)."""

from __future__ import annotations

import random
from typing import Any, Mapping

import optuna
from optuna.trial import FrozenTrial

from nasengine.controller import ArchSampler


class RandomController(ArchSampler):
    """Uniform over the space; infeasible draws are rejected by the base class."""

    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        return self.space.sample(rng).choices
