"""Early stopping of poor candidates (``--pruner``): an Optuna pruner on the study reads the
validation accuracy the train evaluator reports after every epoch and stops a trial whose
curve falls behind (the trial ends ``PRUNED``; controllers learn from complete trials only)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import optuna

#: ``--pruner`` names and what each builds, given the search's epochs per trial.
PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": lambda epochs, **kw: optuna.pruners.NopPruner(**kw),
    "median": lambda epochs, **kw: optuna.pruners.MedianPruner(**kw),
    "hyperband": lambda epochs, **kw: optuna.pruners.HyperbandPruner(**{"min_resource": 1, "max_resource": epochs,
                                                                        **kw}),
}
_CLASSES = {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
            "hyperband": optuna.pruners.HyperbandPruner}


def pruner_class(name: str) -> type[optuna.pruners.BasePruner]:
    """The Optuna class behind ``--pruner name`` (its constructor's keywords are the options)."""
    if name not in PRUNERS:
        raise ValueError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")
    return _CLASSES[name]


def make_pruner(name: str, options: Mapping[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    """The pruner ``name`` with ``options`` (its constructor's keywords, e.g.
    ``n_startup_trials=2`` for median); hyperband's resource is the epoch, up to ``epochs``.

    Raises:
        ValueError: An unknown name (the message lists the known ones), an option the
            pruner does not take (the message lists those it does) or a bad option value.
    """
    keys = [k for k in inspect.signature(pruner_class(name)).parameters if k != "self"]
    bad = sorted(set(options) - set(keys))
    if bad:
        raise ValueError(f"pruner {name} takes no option(s) {bad}; its options: {', '.join(keys) or 'none'}")
    try:
        return PRUNERS[name](epochs, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"pruner {name} {dict(options)}: {exc}") from None


class EpochReporter:
    """The ``report`` callback of one trial: counts the epochs trained, hands each accuracy
    to ``trial.report`` (Optuna's plots and pruners read them; not for multi-objective
    studies, where Optuna takes no intermediate values) and, with ``prune``, raises
    ``optuna.TrialPruned`` when the study's pruner says so. The last epoch (``last_epoch``)
    is never pruned: its training is already paid for, and the trial is complete."""

    def __init__(self, trial: optuna.Trial, *, prune: bool, report: bool, last_epoch: int | None = None) -> None:
        self.trial, self.prune, self.report, self.last_epoch = trial, prune, report, last_epoch
        self.epochs = 0
        self.last: float | None = None

    def __call__(self, step: int, value: float) -> None:
        self.epochs, self.last = self.epochs + 1, value
        if self.report:
            self.trial.report(value, step=step)
            final = self.last_epoch is not None and step >= self.last_epoch
            if self.prune and not final and self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {step} (val acc {value:.4f})")
