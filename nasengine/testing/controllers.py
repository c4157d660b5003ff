"""Reusable conformance checks for controllers (built-in or plug-in).

Each check takes a factory ``factory(space, seed) -> ArchSampler`` and runs real Optuna
studies on a small ShuffleNet space with a synthetic, deterministic score::

    @pytest.mark.parametrize("check", CONTROLLER_CHECKS, ids=lambda c: c.__name__)
    def test_my_controller(check, tmp_path):
        check(lambda space, seed: MyController(space, seed=seed), tmp_path)

``check_direction`` is kept apart: it asks a learner to improve on random search in
both study directions, which random search itself cannot do. Optuna's own sampler suites
come bound to controllers from ``nasengine.testing.optuna_suites``.
"""

from __future__ import annotations

import random
import statistics
import warnings
from pathlib import Path
from typing import Callable, Literal

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


#: Hyperparameters the ``extras`` objective suggests beside the space's decisions.
LR = (1e-4, 1e-1)
LAYERS = (1, 4)
OPTIMIZERS = ("sgd", "adam")


def score_with_extras(trial: optuna.Trial, space: SearchSpace) -> float:
    """``synthetic_score`` of the trial's arch, after also suggesting a log-uniform float,
    an int and a categorical that are not decisions (they do not change the score)."""
    arch = suggest_arch(trial, space)
    trial.suggest_float("lr", *LR, log=True)
    trial.suggest_int("layers", *LAYERS)
    trial.suggest_categorical("optimizer", OPTIMIZERS)
    return synthetic_score(arch)


def run_study(sampler: optuna.samplers.BaseSampler, space: SearchSpace, trials: int, *, storage: str | None = None,
              name: str = "conformance", direction: Literal["maximize", "minimize"] = "maximize",
              extras: bool = False) -> optuna.Study:
    """``trials`` trials of ``synthetic_score`` (``extras``: of ``score_with_extras``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=sampler, storage=storage, study_name=name,
                                load_if_exists=True)
    if extras:
        study.optimize(lambda t: score_with_extras(t, space), n_trials=trials)
    else:
        study.optimize(lambda t: synthetic_score(suggest_arch(t, space)), n_trials=trials)
    return study


def tail_mean(study: optuna.Study, n: int = 20) -> float:
    """Mean value of the last ``n`` trials (by trial number)."""
    trials = sorted(study.trials, key=lambda t: t.number)
    return statistics.mean(t.values[0] for t in trials[-n:])


def _archs(study: optuna.Study, space: SearchSpace) -> list[Arch]:
    decisions = {d.name for d in space.decisions()}
    return [space.arch({k: v for k, v in t.params.items() if k in decisions})
            for t in sorted(study.trials, key=lambda t: t.number)]


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


def check_extra_parameters(factory: Factory, tmp_path: Path) -> None:
    """Float, int and categorical parameters that are not decisions are sampled within
    their ranges, vary, and repeat with the seed."""
    space = small_space()
    runs = [run_study(factory(space, 3), space, 12, extras=True) for _ in range(2)]
    params = [[t.params for t in sorted(study.trials, key=lambda t: t.number)] for study in runs]
    assert params[0] == params[1], "the same seed drew other parameters"
    lrs = [p["lr"] for p in params[0]]
    assert all(LR[0] <= lr <= LR[1] for lr in lrs) and len(set(lrs)) > 1
    assert all(LAYERS[0] <= p["layers"] <= LAYERS[1] and p["optimizer"] in OPTIMIZERS for p in params[0])
    assert len({a.id for a in _archs(runs[0], space)}) > 1


def check_partial_fixed(factory: Factory, tmp_path: Path) -> None:
    """Under ``optuna.samplers.PartialFixedSampler`` the fixed decision keeps its value
    and the others still vary: the controller answers only what it is asked."""
    space = small_space()
    first = space.decisions()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.PartialFixedSampler({first.name: first.options[-1]}, factory(space, 0))
    archs = _archs(run_study(sampler, space, 12), space)
    assert all(a.choices[first.name] == first.options[-1] for a in archs)
    assert len({a.id for a in archs}) > 3


def check_fix(factory: Factory, tmp_path: Path) -> None:
    """``ArchSampler.fix`` pins decisions in every trial, under the hard constraint."""
    space = small_space()
    limit = _median_macs(space)
    first = space.decisions()[0]
    sampler = factory(space, 0)
    sampler.fix({first.name: first.options[0]})
    sampler.set_constraint(lambda arch: space.cost(arch).macs <= limit)
    archs = _archs(run_study(sampler, space, 15), space)
    assert all(a.choices[first.name] == first.options[0] for a in archs)
    assert all(space.cost(a).macs <= limit for a in archs), "an infeasible architecture became a trial"
    assert len({a.id for a in archs}) > 3


def check_direction(factory: Factory, tmp_path: Path, *, learns: bool = True, seeds: range = range(3),
                    trials: int = 60, margin: float = 0.06) -> None:
    """The controller follows the study's direction, with non-decision parameters present.

    With ``learns``, the mean of the last 20 trials over ``seeds`` beats the mean score of
    all archs by ``margin`` in each direction (higher when maximising, lower when
    minimising); without it, both directions just have to run.
    """
    space = small_space()
    tails = {}
    directions: tuple[Literal["maximize", "minimize"], ...] = ("maximize", "minimize")
    for direction in directions:
        studies = [run_study(factory(space, seed), space, trials, direction=direction, extras=True) for seed in seeds]
        assert all(len(s.trials) == trials for s in studies)
        tails[direction] = statistics.mean(tail_mean(s) for s in studies)
    if learns:
        average = statistics.mean(synthetic_score(a) for a in space.all_archs())
        assert tails["maximize"] > average + margin, (tails, average)
        assert tails["minimize"] < average - margin, (tails, average)


CONTROLLER_CHECKS = [check_valid_and_feasible, check_seeded, check_resume, check_extra_parameters,
                     check_partial_fixed, check_fix]
