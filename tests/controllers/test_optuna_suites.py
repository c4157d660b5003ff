"""Optuna's own sampler test suites, run over every registered controller
(``nasengine.testing.optuna_suites``)."""

from __future__ import annotations

import pytest

import nasengine
from nasengine.testing.controllers import small_space
from nasengine.testing.optuna_suites import optuna_sampler_suites


def _factory(name: str):
    space = small_space()
    return lambda: nasengine.CONTROLLERS.create(name, space, seed=0)


TestBasicSamplerSuite, TestMultiObjectiveSamplerSuite = optuna_sampler_suites(
    {name: _factory(name) for name in nasengine.CONTROLLERS.names()})


def test_the_suites_need_a_controller():
    with pytest.raises(ValueError, match="at least one controller factory"):
        optuna_sampler_suites({})
