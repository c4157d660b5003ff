"""Aging evolution: random start, tournament of the last P trials, one-decision mutants."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import create_trial

from controllers.aging import AgingEvolutionController
from nasengine.testing.controllers import run_study, small_space, synthetic_score


def _study(controller: AgingEvolutionController, values: list[float], direction: str = "maximize") -> optuna.Study:
    """A study holding one completed trial per value, each on another random arch."""
    study = optuna.create_study(direction=direction, sampler=controller)
    for seed, value in enumerate(values):
        arch = controller.space.sample(seed)
        study.add_trial(create_trial(params=dict(arch.choices), distributions=dict(controller.distributions),
                                     value=value))
    return study


def _proposal(controller: AgingEvolutionController, study: optuna.Study, seed: int = 0) -> dict:
    study.ask()
    trial = study.trials[-1]
    return dict(controller.propose(study, trial, controller.rng_for(trial, str(seed))))


def _distance(a: dict, b: dict) -> int:
    return sum(a[k] != b[k] for k in a)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_whole_population_tournament_mutates_the_best_of_the_last_p_in_one_decision(direction):
    controller = AgingEvolutionController(small_space(), seed=0, population_size=4, sample_size=4)
    # The oldest trial is the best of all in either direction: it has aged out.
    values = [2.0, 0.5, 0.7, 0.6, 0.4] if direction == "maximize" else [-2.0, 0.5, 0.3, 0.4, 0.6]
    study = _study(controller, values, direction)
    best_of_last_four = study.trials[2].params
    for seed in range(10):
        assert _distance(_proposal(controller, study, seed), best_of_last_four) == 1


def test_the_first_population_size_trials_are_random():
    space = small_space()
    controller = AgingEvolutionController(space, seed=0, population_size=4, sample_size=2)
    study = _study(controller, [0.1, 0.2, 0.3])  # one short of a population
    proposal = _proposal(controller, study)
    assert proposal == dict(space.sample(controller.rng_for(study.trials[-1], "0")).choices)


def test_fixed_decisions_are_never_the_one_mutated():
    controller = AgingEvolutionController(small_space(), seed=0, population_size=3, sample_size=3)
    study = _study(controller, [0.1, 0.9, 0.2])
    best = study.trials[1].params
    controller.fix({name: best[name] for name in ("block0", "block1", "block2", "block3")})
    for seed in range(10):
        proposal = _proposal(controller, study, seed)
        assert _distance(proposal, best) == 1 and proposal["block4"] != best["block4"]


def test_beats_random_search_on_synthetic_score():
    space = small_space()
    average = sum(synthetic_score(a) for a in space.all_archs()) / space.size()
    tails = []
    for seed in range(3):
        values = [t.value for t in sorted(run_study(AgingEvolutionController(space, seed=seed), space, 60).trials,
                                          key=lambda t: t.number)]
        tails.append(sum(values[-20:]) / 20)
    # Measured: 0.73 against the average arch's 0.58 (the best scores 0.85).
    assert min(tails) > average + 0.08, (tails, average)


@pytest.mark.parametrize("options, message", [
    ({"population_size": 0}, "population_size must be a positive integer, got 0"),
    ({"sample_size": 2.5}, "sample_size must be a positive integer, got 2.5"),
    ({"population_size": 4, "sample_size": 5}, r"sample_size must be at most population_size \(4\), got 5"),
    ({"max_tries": 0}, "max_tries must be a positive integer"),
])
def test_option_validation(options, message):
    with pytest.raises(ValueError, match=message):
        AgingEvolutionController(small_space(), seed=0, **options)
