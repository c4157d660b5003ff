"""The evaluator contract: score one architecture. Registered through the
``nasengine.evaluators`` entry points; a factory is called as ``factory(space, **options)``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from torch import nn

from nasengine.arch import Arch

#: Receives intermediate results while an evaluation runs: ``(step, value)``, e.g. the
#: validation accuracy after each epoch (the search hands them to Optuna's ``trial.report``).
Report = Callable[[int, float], None]


@dataclass
class Evaluation:
    """Metrics of one architecture (``acc`` in 0..1 at least) and, if trained, the model."""

    metrics: dict[str, float]
    model: nn.Module | None = field(default=None, repr=False)


class Evaluator(abc.ABC):
    """Scores architectures of one space. One method to implement.

    ``TUNABLE`` names the training settings an evaluator that trains each candidate can
    take per trial (``evaluate_reporting(..., hparams={"lr": 0.01})``): a search may tune
    them (``--tune``) and prune on the accuracies it reports per epoch (``--pruner``).
    Evaluators that do not train (a table replay, a supernet) leave it empty.
    """

    TUNABLE: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def evaluate(self, arch: Arch) -> Evaluation:
        """Validation metrics of ``arch`` (never test metrics)."""

    def evaluate_reporting(self, arch: Arch, report: Report | None) -> Evaluation:
        """``evaluate``, passing intermediate accuracies to ``report`` as they come (the
        search calls this). Evaluators without intermediate results need not override it."""
        return self.evaluate(arch)

    def test_accuracy(self, arch: Arch, model: nn.Module | None) -> float | None:
        """Test accuracy of a final model, when the evaluator has test data."""
        return None


def parse_evaluator(spec: str) -> tuple[str, dict[str, Any]]:
    """``"table:FILE"`` -> ``("table", {"path": FILE})``; ``"train"`` -> ``("train", {})``."""
    name, sep, arg = spec.partition(":")
    if name == "table":
        if not arg:
            raise ValueError("--evaluator table needs a file: --evaluator table:FILE")
        return name, {"path": arg}
    if sep:
        raise ValueError(f"evaluator {name!r} takes no ':' argument (got {spec!r})")
    return name, {}
