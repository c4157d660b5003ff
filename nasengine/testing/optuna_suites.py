"""Optuna's own sampler test suites, bound to controllers, for any test module.

Optuna ships ``BasicSamplerTestCase`` and ``MultiObjectiveSamplerTestCase`` (pytest classes
that take a ``sampler`` fixture). They suggest only parameters of their own, none a decision
of the space, so they exercise a controller's independent sampling, its relative sampling
beside it, ``PartialFixedSampler`` and multi-objective studies. A plug-in runs them with::

    from nasengine.testing.optuna_suites import optuna_sampler_suites

    TestBasic, TestMultiObjective = optuna_sampler_suites({"mine": lambda: MyController(space, seed=0)})
"""

from __future__ import annotations

from typing import Callable, Mapping

import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, MultiObjectiveSamplerTestCase

from nasengine.controller import ArchSampler

Factory = Callable[[], ArchSampler]


def optuna_sampler_suites(factories: Mapping[str, Factory]) -> tuple[type, type]:
    """Optuna's two suites, each case run once per named factory (the name is the test id).

    Raises:
        ValueError: ``factories`` is empty (the suites would run nothing).
    """
    if not factories:
        raise ValueError("optuna_sampler_suites needs at least one controller factory")
    names = list(factories)

    class Basic(BasicSamplerTestCase):
        @pytest.fixture(params=names)
        def sampler(self, request: pytest.FixtureRequest) -> Factory:
            return factories[request.param]

    class MultiObjective(MultiObjectiveSamplerTestCase):
        @pytest.fixture(params=names)
        def sampler(self, request: pytest.FixtureRequest) -> Factory:
            return factories[request.param]

    return Basic, MultiObjective
