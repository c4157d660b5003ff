"""The evaluator conformance kit on the built-in ``train`` and ``table`` evaluators."""

from __future__ import annotations

import pytest

from nasengine.evaluators.table import TableEvaluator
from nasengine.evaluators.train import TrainEvaluator
from nasengine.testing import EVALUATOR_CHECKS, EvaluatorCase
from nasengine.testing.controllers import small_space
from nasengine.testing.evaluators import check_foreign_archs_refused
from tests.search_helpers import synthetic_table
from tests.toy_space import ToySpace


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    table = synthetic_table(tmp_path_factory.mktemp("table") / "table.json")
    return {
        "train": EvaluatorCase(TrainEvaluator, ToySpace(), options={"epochs": 1, "max_steps": 3, "batch_size": 32},
                               name="train"),
        "table": EvaluatorCase(TableEvaluator, small_space(), options={"path": str(table)}, name="table"),
    }


@pytest.mark.parametrize("check", EVALUATOR_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("evaluator", ["train", "table"])
def test_builtin_evaluators_conform(cases, evaluator, check):
    check(cases[evaluator])


def test_the_kit_catches_an_evaluator_that_scores_anything():
    class Lenient(TrainEvaluator):
        def evaluate(self, arch):
            return super().evaluate(self.space.sample(0))  # ignores what it was given

    case = EvaluatorCase(Lenient, ToySpace(), options={"epochs": 1, "max_steps": 1})
    with pytest.raises(AssertionError, match="instead of refused"):
        check_foreign_archs_refused(case)
