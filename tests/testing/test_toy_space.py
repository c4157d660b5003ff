"""The conformance suite runs on a third-party-style space defined in the tests."""

from __future__ import annotations

import pytest

from nasengine.testing.spaces import SPACE_CHECKS
from tests.toy_space import ToySpace


@pytest.mark.parametrize("check", SPACE_CHECKS, ids=lambda c: c.__name__)
def test_toy_space_conforms(check):
    check(ToySpace())

