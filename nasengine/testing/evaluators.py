"""Reusable conformance checks for evaluators (built-in or plug-in).

Each check takes an ``EvaluatorCase``: the factory as the registry calls it,
``factory(space, **options)``, a small space it can score, and the options that keep the
evaluation cheap::

    CASE = EvaluatorCase(MyEvaluator, small_space, options={"epochs": 1}, name="mine")

    @pytest.mark.parametrize("check", EVALUATOR_CHECKS, ids=lambda c: c.__name__)
    def test_my_evaluator(check):
        check(CASE)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from nasengine.arch import Arch
from nasengine.evaluators.base import Evaluation, Evaluator
from nasengine.registry import EVALUATORS, Registry
from nasengine.space import SearchSpace


@dataclass(frozen=True)
class EvaluatorCase:
    """An evaluator under test.

    Attributes:
        factory: Makes the evaluator, called as ``factory(space, **options)``.
        space: A small space the evaluator can score.
        options: Options of the factory (a short budget, a table file...).
        deterministic: The same architecture always gets the same score.
        name: The name the factory is registered under in ``EVALUATORS``, if any.
    """

    factory: Callable[..., Evaluator]
    space: SearchSpace
    options: Mapping[str, Any] = field(default_factory=dict)
    deterministic: bool = True
    name: str | None = None

    def create(self) -> Evaluator:
        return self.factory(self.space, **self.options)


def _accuracy(value: Any, what: str) -> float:
    assert isinstance(value, float), f"{what} must be a float, got {type(value).__name__} {value!r}"
    assert 0.0 <= value <= 1.0, f"{what} must lie in [0, 1], got {value}"
    return value


def check_evaluation_has_accuracy(case: EvaluatorCase) -> None:
    """``evaluate`` returns an ``Evaluation`` whose metrics hold a float ``acc`` in [0, 1]
    and only finite numbers."""
    evaluator = case.create()
    assert isinstance(evaluator, Evaluator), f"the factory made a {type(evaluator).__name__}, not an Evaluator"
    result = evaluator.evaluate(case.space.sample(0))
    assert isinstance(result, Evaluation), f"evaluate returned a {type(result).__name__}, not an Evaluation"
    _accuracy(result.metrics.get("acc"), "metrics['acc']")
    for key, value in result.metrics.items():
        assert isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), (
            f"metric {key!r} is not a finite number: {value!r}")


def check_same_arch_same_score(case: EvaluatorCase) -> None:
    """A deterministic evaluator scores an architecture the same every time, whatever it
    evaluated in between."""
    if not case.deterministic:
        return
    evaluator = case.create()
    archs = [case.space.sample(seed) for seed in range(2)]
    first = [evaluator.evaluate(a).metrics["acc"] for a in archs]
    again = [evaluator.evaluate(a).metrics["acc"] for a in reversed(archs)][::-1]
    assert first == again, f"scores changed on a second evaluation: {first} then {again}"


def check_foreign_archs_refused(case: EvaluatorCase) -> None:
    """An architecture that is not of the space is an error, not a score: decisions the
    space does not have, or an option its decision does not offer."""
    space = case.space
    sample = space.sample(0)
    first = space.decisions()[0].name
    foreign = [
        Arch("not-" + space.name, {}, {"no_such_decision": 1}),
        Arch(space.name, sample.config, {**sample.choices, first: "not-an-option"}),
    ]
    evaluator = case.create()
    for arch in foreign:
        try:
            result = evaluator.evaluate(arch)
        except Exception:  # noqa: BLE001 - any clear error will do; a score will not
            continue
        raise AssertionError(f"{arch.choices} was scored {result.metrics} instead of refused")


def check_test_accuracy(case: EvaluatorCase) -> None:
    """``test_accuracy`` of the evaluated model (or of no model) is None or a float in [0, 1]."""
    evaluator = case.create()
    arch = case.space.sample(0)
    result = evaluator.evaluate(arch)
    for model in (result.model, None):
        test = evaluator.test_accuracy(arch, model)
        if test is not None:
            _accuracy(test, "test_accuracy")


def check_options_are_validated(case: EvaluatorCase) -> None:
    """Registered, the factory's options are checked by name: the case's options are
    accepted, an unknown one is a ``ValueError`` that lists the real ones."""
    registry: Registry[Callable[..., Evaluator]] = Registry("evaluator", "nasengine.testing.no_entry_points")
    registry.register("under_test", case.factory)
    registries = [("under_test", registry)]
    if case.name is not None:
        assert EVALUATORS.get(case.name) is case.factory, f"EVALUATORS[{case.name!r}] is not this factory"
        registries.append((case.name, EVALUATORS))
    for name, reg in registries:
        assert isinstance(reg.create(name, case.space, **case.options), Evaluator)
        try:
            reg.create(name, case.space, **case.options, no_such_option=1)
        except ValueError as exc:
            missing = [o for o in case.options if o not in str(exc)]
            assert "no_such_option" in str(exc) and not missing, f"the error does not list the options: {exc}"
        else:
            raise AssertionError(f"evaluator {name!r} accepted an unknown option")


EVALUATOR_CHECKS: list[Callable[[EvaluatorCase], None]] = [
    check_evaluation_has_accuracy,
    check_same_arch_same_score,
    check_foreign_archs_refused,
    check_test_accuracy,
    check_options_are_validated,
]
