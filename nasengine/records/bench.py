"""Measurement reports: ``nasengine latency check --json`` and the ``nasengine bench``
envelope every ``reports/bench/SUITE.json`` shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from nasengine.records.base import Record


@dataclass(frozen=True)
class LatencyCheckRow(Record):
    arch_id: str
    predicted_ms: float
    measured_ms: float


@dataclass(frozen=True)
class LatencyCheck(Record):
    """A latency table's predictions against end-to-end timings of random architectures.

    ``table``, ``timing`` and ``machine`` say what was checked where; ``check_table`` leaves
    them to its caller, which knows the table's path and the machine.
    """

    FILE: ClassVar[str] = "latency check"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("table",)

    samples: int
    seed: int
    mean_rel_error: float
    max_rel_error: float
    mean_rel_error_without_glue: float
    kendall_tau: float | None  # None (null in the file): undefined, one ranking is constant
    spearman_rho: float | None
    rows: tuple[LatencyCheckRow, ...]
    table: str | None = None
    timing: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchReport(Record):
    """``reports/bench/SUITE.json``: one suite's rows (suite-specific) with when and where,
    and the command line that wrote it (``None`` in files written before it was kept)."""

    FILE: ClassVar[str] = "bench report"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("command",)

    suite: str
    date: str
    machine: dict[str, Any]
    rows: tuple[dict[str, Any], ...]
    command: str | None = None
