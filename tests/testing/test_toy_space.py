"""The conformance suite runs on a third-party-style space defined in the tests."""

from __future__ import annotations

import pytest

from nasengine.testing.spaces import SPACE_CHECKS
from tests.toy_space import ToySpace


@pytest.mark.parametrize("check", SPACE_CHECKS, ids=lambda c: c.__name__)
def test_toy_space_conforms(check):
    check(ToySpace())


def test_default_cost_bounds_enumerate_small_spaces():
    low, high = ToySpace().cost_bounds()
    costs = [ToySpace().cost(ToySpace().arch({"kernel": k, "width": w})) for k in ("k3", "k5") for w in (4, 8)]
    assert low.macs == min(c.macs for c in costs) and high.params == max(c.params for c in costs)
