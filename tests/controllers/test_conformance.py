"""Every registered controller passes the conformance suite."""

from __future__ import annotations

import pytest

import nasengine
from nasengine.testing.controllers import CONTROLLER_CHECKS, check_resume

#: Optuna's samplers keep their own random state across trials; a resumed search is
#: complete and duplicate-free but not a replay.
NOT_REPLAYABLE = {"tpe", "nsga2"}


def _factory(name):
    return lambda space, seed: nasengine.CONTROLLERS.get(name)(space, seed=seed)


@pytest.mark.parametrize("check", CONTROLLER_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", nasengine.CONTROLLERS.names())
def test_controller_conforms(name, check, tmp_path):
    if check is check_resume:
        check_resume(_factory(name), tmp_path, exact=name not in NOT_REPLAYABLE)
    else:
        check(_factory(name), tmp_path)
