"""Reusable conformance checks for controllers (built-in or plug-in).

Each check takes a factory ``factory(space, seed) -> ArchSampler`` and runs real Optuna
studies on a small ShuffleNet space with a synthetic, deterministic score::

    @pytest.mark.parametrize("check", CONTROLLER_CHECKS, ids=lambda c: c.__name__)
    def test_my_controller(check, tmp_path):
        check(lambda space, seed: MyController(space, seed=seed), tmp_path)
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

import optuna

from nasengine.arch import Arch
from nasengine.controller import ArchSampler, suggest_arch
from nasengine.registry import get_space
from nasengine.space import SearchSpace

Factory = Callable[[SearchSpace, int], ArchSampler]

SMALL = dict(input_size=8, num_classes=10, in_channels=1, stem_channels=8, stem_stride=1,
             stage_repeats=(1, 1, 2, 1), stage_channels=(16, 24, 32, 48), last_channels=64)


def small_space() -> SearchSpace:
    return get_space("shufflenet", **SMALL)


def synthetic_score(arch: Arch) -> float:
    """A fixed additive score per (decision, option) plus a small interaction: learnable."""
    total = 0.0
    for name, value in sorted(arch.choices.items()):
        total += random.Random(f"{name}={value}").random()
    return total / len(arch.choices)


def run_study(sampler: ArchSampler, space: SearchSpace, trials: int, *, storage: str | None = None,
              name: str = "conformance") -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage, study_name=name,
                                load_if_exists=True)
    study.optimize(lambda t: synthetic_score(suggest_arch(t, space)), n_trials=trials)
    return study


def _archs(study: optuna.Study, space: SearchSpace) -> list[Arch]:
    return [space.arch(t.params) for t in sorted(study.trials, key=lambda t: t.number)]


def _median_macs(space: SearchSpace) -> int:
    costs = sorted(space.cost(space.sample(s)).macs for s in range(200))
    return costs[len(costs) // 2]


def check_valid_and_feasible(factory: Factory, tmp_path: Path) -> None:
    """Every trial is a valid architecture that meets the hard constraint."""
    space = small_space()
    limit = _median_macs(space)
    sampler = factory(space, 0)
    sampler.set_constraint(lambda arch: space.cost(arch).macs <= limit)
    study = run_study(sampler, space, 30)
    archs = _archs(study, space)
    assert len(archs) == 30
    assert all(space.cost(a).macs <= limit for a in archs), "an infeasible architecture became a trial"


def check_seeded(factory: Factory, tmp_path: Path) -> None:
    """The same seed gives the same sequence; another seed a different one."""
    space = small_space()
    runs = [[a.id for a in _archs(run_study(factory(space, seed), space, 15), space)] for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def check_resume(factory: Factory, tmp_path: Path, *, exact: bool = True) -> None:
    """A search stopped and resumed on the same storage neither loses nor repeats trials;
    with ``exact``, it proposes what an uninterrupted search proposes."""
    space = small_space()
    storage = f"sqlite:///{tmp_path / 'resume.db'}"
    first = factory(space, 5)
    run_study(first, space, 8, storage=storage)
    second = factory(space, 5)
    state = first.state()
    if state is not None:
        second.restore(state)
    resumed = run_study(second, space, 8, storage=storage)
    numbers = sorted(t.number for t in resumed.trials)
    assert numbers == list(range(16))
    if exact:
        straight = run_study(factory(space, 5), space, 16)
        assert [a.id for a in _archs(resumed, space)] == [a.id for a in _archs(straight, space)]


CONTROLLER_CHECKS = [check_valid_and_feasible, check_seeded, check_resume]
