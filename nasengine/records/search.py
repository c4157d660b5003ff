"""What a search run folder holds: ``result.json`` (trials, best, fronts) and the one-shot
rank check (``rankcheck.json``, also under ``result.json["rankcheck"]``, and its per-arch
standalone cache ``rankcheck/<arch>_e<epochs>_s<seed>.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nasengine.records.base import Record


@dataclass(frozen=True)
class TrialRecord(Record):
    """One finished (``COMPLETE``), stopped early (``PRUNED``) or failed (``FAIL``) trial of a
    search. ``choices`` are the architecture's decisions; ``hparams`` the training settings the
    search tuned for it (``--tune``), ``epochs`` how many it trained (fewer when pruned; a
    pruned trial's ``metrics`` hold its last accuracy); ``reused`` the number of the trial
    whose result it took, having proposed an architecture the study had evaluated."""

    FILE: ClassVar[str] = "result.json trial"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("hparams", "epochs", "reused")

    number: int
    state: str
    arch_id: str | None
    choices: dict[str, Any]
    cost: dict[str, Any] | None
    metrics: dict[str, Any] | None
    values: tuple[float, ...] | None
    seconds: float | None
    start: str | None
    hparams: dict[str, Any] | None = None
    epochs: int | None = None
    reused: int | None = None

    @property
    def acc(self) -> float:
        """The trial's validation accuracy (completed trials only)."""
        if not self.metrics or "acc" not in self.metrics:
            raise ValueError(f"trial {self.number} ({self.state}) has no accuracy")
        return float(self.metrics["acc"])


@dataclass(frozen=True)
class RankCheckRow(Record):
    """One sampled architecture: its one-shot score and standalone accuracy (mean over seeds)."""

    arch_id: str
    macs: int
    oneshot_acc: float
    standalone_acc: float
    standalone_seeds: tuple[float, ...]


@dataclass(frozen=True)
class RankCheck(Record):
    """``nasengine rankcheck``: one-shot scores against standalone training.

    ``seed_to_seed_tau`` is the mean Kendall tau-b between the standalone rankings of two
    training seeds (``None`` with one seed): the ceiling for any proxy. ``run`` is the run
    folder relative to the directory the check ran in, ``command`` the command line that
    produced the record (both ``None`` in records written before they were kept).
    """

    FILE: ClassVar[str] = "rankcheck.json"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("run", "command")

    samples: int
    epochs: int
    seed: int
    seeds: int
    evaluator: str
    kendall_tau: float | None  # None (null in the file): undefined, one ranking is constant
    spearman_rho: float | None
    seed_to_seed_tau: float | None
    seconds: float
    rows: tuple[RankCheckRow, ...]
    run: str | None = None
    command: str | None = None

    def __post_init__(self) -> None:
        if len(self.rows) != self.samples or self.samples < 2:
            raise ValueError(f"samples is {self.samples} but there are {len(self.rows)} rows (need >= 2)")


@dataclass(frozen=True)
class StandaloneAcc(Record):
    """A cached standalone training of one architecture (one seed, one epoch budget)."""

    FILE: ClassVar[str] = "rankcheck cache entry"

    arch_id: str
    epochs: int
    seed: int
    standalone_acc: float


#: ``pareto_front`` keys: accuracy against each cost.
FRONTS = {"macs": "acc_vs_macs", "params": "acc_vs_params", "latency": "acc_vs_latency"}


@dataclass(frozen=True)
class SearchResult(Record):
    """``result.json``: every finished trial, the best one, the accuracy-vs-cost Pareto
    fronts (``FRONTS``; latency only with a latency table), and the rank check once run.

    ``pruned`` counts the trials a pruner stopped early (``None`` without a pruner); they are
    in ``trials`` but never ``best`` nor on a front. ``pretrain_seconds`` is the wall time of
    the strategy's pretraining step (supernet or PruningNet training), summed over resumed
    runs; ``None`` for strategies without one.
    A search's time is this plus the trials' ``seconds``.
    """

    FILE: ClassVar[str] = "result.json"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("rankcheck", "pretrain_seconds", "pruned")

    space: str
    space_config: dict[str, Any]
    strategy: str | None
    controller: str
    evaluator: str
    objectives: tuple[str, ...]
    constraints: dict[str, Any]
    completed: int
    best: TrialRecord | None
    pareto_front: dict[str, tuple[TrialRecord, ...]]
    trials: tuple[TrialRecord, ...]
    rankcheck: RankCheck | None = None
    pretrain_seconds: float | None = None
    pruned: int | None = None

    @property
    def completed_trials(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "COMPLETE" and t.metrics]

    @property
    def trial_seconds(self) -> float:
        """Evaluation time of the finished trials, summed."""
        return sum(t.seconds or 0.0 for t in self.trials)
