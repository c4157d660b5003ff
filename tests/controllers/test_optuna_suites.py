"""Optuna's own sampler test suites, run over every registered controller.

The suites suggest only parameters of their own (``x``, ``y``, ``category``, ...), none of
them a decision of the space: they exercise the controllers' independent sampling, their
relative sampling beside it, ``PartialFixedSampler`` and multi-objective studies.
"""

from __future__ import annotations

import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, MultiObjectiveSamplerTestCase

import nasengine
from nasengine.testing.controllers import small_space


def _factory(name: str):
    space = small_space()
    return lambda: nasengine.CONTROLLERS.create(name, space, seed=0)


class TestBasicSamplerSuite(BasicSamplerTestCase):
    @pytest.fixture(params=nasengine.CONTROLLERS.names())
    def sampler(self, request):
        return _factory(request.param)


class TestMultiObjectiveSamplerSuite(MultiObjectiveSamplerTestCase):
    @pytest.fixture(params=nasengine.CONTROLLERS.names())
    def sampler(self, request):
        return _factory(request.param)
