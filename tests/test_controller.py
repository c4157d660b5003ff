"""The controller base class: study directions, fixed decisions, the relative search space
it is asked for, and the sampler of parameters that are not decisions."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import create_trial

from controllers.random_search import RandomController
from nasengine.controller import InfeasibleError, oriented_values
from nasengine.testing.controllers import run_study, small_space

MAX, MIN = StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE


def test_oriented_values_make_larger_better_per_objective():
    single = create_trial(value=0.25)
    assert oriented_values(single, [MAX]) == (0.25,)
    assert oriented_values(single, [MIN]) == (-0.25,)
    multi = create_trial(values=[0.9, 3000.0])
    assert oriented_values(multi, [MAX, MIN]) == (0.9, -3000.0)
    assert oriented_values(multi, [MIN, MAX]) == (-0.9, 3000.0)
    with pytest.raises(ValueError, match=r"values \[0.9, 3000.0\] but the study has 1 direction"):
        oriented_values(multi, [MAX])


def test_fix_validates_names_and_options():
    controller = RandomController(small_space(), seed=0)
    with pytest.raises(ValueError, match=r"cannot fix 'block9': not a decision of space 'shufflenet'; "
                                         r"decisions are \['block0'"):
        controller.fix({"block9": "k3"})
    with pytest.raises(ValueError, match=r"cannot fix block0='k9': the options of 'block0' are "
                                         r"\['k3', 'k5', 'k7', 'xception'\]"):
        controller.fix({"block0": "k9"})
    assert controller.fixed == {}  # a rejected call pins nothing
    controller.fix({"block0": "k7", "block2": "xception"})
    assert controller.fixed == {"block0": "k7", "block2": "xception"}
    assert controller.free_option_counts() == (1, 4, 1, 4, 4)
    controller.fix({})
    assert controller.fixed == {}


def test_fixed_values_that_no_feasible_arch_allows_are_an_infeasible_error():
    controller = RandomController(small_space(), seed=0, max_tries=5)
    controller.fix({"block0": "k3"})
    controller.set_constraint(lambda arch: arch.choices["block0"] != "k3")
    with pytest.raises(InfeasibleError, match=r"with \{'block0': 'k3'\} fixed"):
        run_study(controller, controller.space, 1)


def test_sample_relative_answers_only_the_decisions_asked_for():
    space = small_space()
    controller = RandomController(space, seed=0)
    study = optuna.create_study(sampler=controller)
    study.ask()
    trial = study.trials[-1]
    block1 = controller.distributions["block1"]
    assert set(controller.sample_relative(study, trial, {"block1": block1})) == {"block1"}
    full = controller.sample_relative(study, trial, controller.infer_relative_search_space(study, trial))
    assert set(full) == {d.name for d in space.decisions()}
    assert controller.sample_relative(study, trial, {"lr": FloatDistribution(1e-4, 1e-1, log=True)}) == {}
    assert controller.sample_relative(study, trial, {}) == {}


class ConstantSampler(optuna.samplers.RandomSampler):
    """Answers 0.5 for every float and records the trial hooks it is given."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.hooks: list[str] = []

    def sample_independent(self, study, trial, param_name, param_distribution):
        return 0.5 if isinstance(param_distribution, FloatDistribution) else super().sample_independent(
            study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self.hooks.append("before")

    def after_trial(self, study, trial, state, values):
        self.hooks.append("after")


def test_non_decision_parameters_go_to_the_independent_sampler():
    space = small_space()
    inner = ConstantSampler()
    study = run_study(RandomController(space, seed=0, independent_sampler=inner), space, 3, extras=True)
    assert [t.params["lr"] for t in study.trials] == [0.5, 0.5, 0.5]
    assert inner.hooks == ["before", "after"] * 3
    with pytest.raises(ValueError, match="independent_sampler must be an optuna.samplers.BaseSampler or None, got str"):
        RandomController(space, seed=0, independent_sampler="random")


def test_a_fixed_decision_asked_independently_keeps_its_value():
    space = small_space()
    controller = RandomController(space, seed=0)
    controller.fix({"block3": "k5"})
    study = optuna.create_study(sampler=controller)
    trials = []
    for _ in range(10):
        study.ask()
        trials.append(study.trials[-1])
    decision = controller.distributions["block3"]
    assert {controller.sample_independent(study, t, "block3", decision) for t in trials} == {"k5"}
    other = CategoricalDistribution(["k5", "k9"])  # another parameter under that name: not the decision
    assert {controller.sample_independent(study, t, "block3", other) for t in trials} == {"k5", "k9"}
