"""Latency lookup tables: time every candidate piece of a space once on a device, then
predict any architecture's latency as the sum of its pieces plus a measured overhead.

The pieces come from ``SearchSpace.latency_units``. The overhead is the fixed pieces (stem,
head) plus the glue between pieces (Python dispatch, concatenations, residual adds),
calibrated as the median gap between end-to-end timings and the sum of pieces over a few
random architectures.

Pieces are timed with ``nasengine.utils.timing.Timing``: round-robin after a warm-up, the
median over rounds, so a piece runs after other pieces, with their data in the caches, as
inside a network.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from nasengine.arch import Arch
from nasengine.latency.fastest import fastest
from nasengine.latency.table_file import read_table
from nasengine.records import LatencyCheck, LatencyCheckRow
from nasengine.space import SearchSpace
from nasengine.utils.devices import resolve_device
from nasengine.utils.files import jsonable, save_json_atomic
from nasengine.utils.stats import kendall_tau, spearman_rho
from nasengine.utils.timing import Timing
from nasengine.utils.validation import finite_number, non_negative_int, positive_int

FORMAT = "nasengine-latency/1"
_TIMING_KEYS = ("device", "batch", "threads", "warmup", "repeats", "clock")
#: Keys every table file has (``glue_ms``, ``calibration``, ``machine``, ``created`` are optional).
_REQUIRED = ("space", "config", *_TIMING_KEYS, "entries", "fixed_ms")
@dataclass(frozen=True)
class LatencyTable:
    """Measured milliseconds per latency unit of one space config on one device.

    ``predict(space, arch)`` is the sum of the arch's non-fixed units plus ``overhead_ms``
    (fixed units plus calibrated glue).
    """

    space: str
    config: dict[str, Any]
    timing: Timing
    entries: dict[str, float]
    fixed_ms: float
    glue_ms: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def overhead_ms(self) -> float:
        return self.fixed_ms + self.glue_ms

    def check_space(self, space: SearchSpace, path: str | Path | None = None) -> None:
        """A ``ValueError`` unless this table was measured for ``space`` with its config."""
        config = jsonable(space.config.to_dict())
        where = f" {str(path)!r}" if path else ""
        if self.space != space.name:
            raise ValueError(f"latency table{where} was measured for space {self.space!r}, not {space.name!r}; "
                             "build one with `nasengine latency build`")
        if self.config != config:
            diff = ", ".join(f"{k}={self.config.get(k)!r} (here {config.get(k)!r})"
                             for k in sorted(set(config) | set(self.config)) if self.config.get(k) != config.get(k))
            raise ValueError(f"latency table{where} was measured for another {space.name} config: {diff}; "
                             "build one for this config with `nasengine latency build`")
        missing = sorted({u.key for u in space.latency_units() if not u.fixed} - set(self.entries))
        if missing:
            raise ValueError(f"latency table{where} has no entry for {len(missing)} unit(s) of this space, e.g. "
                             f"{missing[0]!r}; rebuild it with `nasengine latency build`")

    def units_ms(self, space: SearchSpace, arch: Arch) -> float:
        """Sum of the arch's non-fixed units."""
        total = 0.0
        for unit in space.latency_units(arch):
            if unit.fixed:
                continue
            try:
                total += self.entries[unit.key]
            except KeyError:
                raise ValueError(f"latency table has no entry {unit.key!r} (arch {arch.id}); "
                                 "rebuild it with `nasengine latency build`") from None
        return total

    def predict(self, space: SearchSpace, arch: Arch) -> float:
        """Predicted milliseconds of one call of ``space.build(arch)`` at the table's batch."""
        return self.units_ms(space, arch) + self.overhead_ms

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "space": self.space, "config": self.config, **asdict(self.timing),
                "machine": self.machine, "created": self.created, "fixed_ms": self.fixed_ms, "glue_ms": self.glue_ms,
                "overhead_ms": self.overhead_ms, "calibration": self.calibration, "entries": self.entries}

    def save(self, path: str | Path) -> Path:
        return save_json_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        data = read_table(path, FORMAT, _REQUIRED, kind="nasengine latency table",
                          hint="build one with `nasengine latency build`")
        bad = f"{str(path)!r} is not a valid latency table"
        if not isinstance(data["space"], str):
            raise ValueError(f"{bad}: 'space' must be a string, got {data['space']!r}")
        for key in ("config", "entries", "calibration", "machine"):
            if key in data and not isinstance(data[key], dict):
                raise ValueError(f"{bad}: {key!r} must be an object, got {type(data[key]).__name__}")
        try:
            timing = Timing(**{k: data[k] for k in _TIMING_KEYS})
            # Times are >= 0 and finite: a negative or NaN entry would predict impossible latencies.
            entries = {k: finite_number(f"entry {k!r}", v, low=0, high=None) for k, v in data["entries"].items()}
            fixed_ms = finite_number("fixed_ms", data["fixed_ms"], low=0, high=None)
            glue_ms = finite_number("glue_ms", data.get("glue_ms", 0.0), low=None, high=None)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{bad}: {exc}") from None
        return cls(data["space"], data["config"], timing, entries, fixed_ms, glue_ms, data.get("calibration", {}),
                   data.get("machine", {}), data.get("created", ""))


class LatencyPredictor:
    """Predicted latency of architectures of one space from a table measured for it.

    Args:
        space: The space (its name and config must match the table's).
        table: A ``LatencyTable`` or the path of one.
    """

    def __init__(self, space: SearchSpace, table: LatencyTable | str | Path) -> None:
        path = None if isinstance(table, LatencyTable) else table
        self.table = table if isinstance(table, LatencyTable) else LatencyTable.load(table)
        self.table.check_space(space, path)
        self.space = space

    def __call__(self, arch: Arch) -> float:
        return self.table.predict(self.space, arch)

    def fastest(self, *, restarts: int = 4, seed: int = 0, stop_at: float | None = None) -> tuple[float, Arch]:
        """The lowest predicted latency and its arch (see ``latency_fastest.fastest``)."""
        return fastest(self.space, self, restarts=restarts, seed=seed, stop_at=stop_at)


def archs_ms(timing: Timing, space: SearchSpace, archs: Sequence[Arch], *, progress: bool = False,
             desc: str = "end to end") -> list[float]:
    """End-to-end milliseconds of ``space.build(arch)`` for each arch (timed together)."""
    shape = space.input_shape(1)[1:]
    return timing.time_modules([(space.build(a), shape) for a in archs], progress=progress, desc=desc)


def build_table(space: SearchSpace, timing: Timing, *, calibrate: int = 10, seed: int = 0,
                machine: dict[str, Any] | None = None, progress: bool = True) -> LatencyTable:
    """Time every latency unit of ``space``, then calibrate the glue on ``calibrate`` archs.

    Args:
        space: Any space implementing ``latency_units``.
        timing: Device, batch, threads, warm-up, repeats, clock.
        calibrate: Random architectures timed end to end to measure the glue (0: none).
        seed: Seed of those architectures.
        machine: Description of the machine stored with the table.
        progress: Show progress bars.
    """
    non_negative_int("calibrate", calibrate)
    units = space.latency_units()
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"space {space.name!r} lists latency unit(s) {twice[:3]} more than once")
    rng = random.Random(f"latency-calibration:{seed}")
    archs = [space.sample(rng) for _ in range(calibrate)]
    # Calibration networks are timed in the same rounds as the units (the last group of
    # them): a load change on the machine shifts both alike instead of the glue.
    shape = space.input_shape(1)[1:]
    modules = [(u.make(), u.input_shape) for u in units] + [(space.build(a), shape) for a in archs]
    times = timing.time_modules(modules, progress=progress, desc="latency units")
    entries = dict(zip(keys, times))
    fixed = sum(entries[u.key] for u in units if u.fixed)
    table = LatencyTable(space.name, jsonable(space.config.to_dict()), timing, entries, fixed, machine=machine or {},
                         created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if calibrate == 0:
        return table
    gaps = [m - table.predict(space, a) for a, m in zip(archs, times[len(units):])]
    return LatencyTable(table.space, table.config, timing, entries, fixed, statistics.median(gaps),
                        {"seed": seed, "archs": [a.id for a in archs], "gaps_ms": gaps}, table.machine, table.created)


def check_table(table: LatencyTable, space: SearchSpace, *, samples: int = 20, seed: int = 0,
                progress: bool = True) -> LatencyCheck:
    """Time ``samples`` random architectures end to end with the table's timing and compare
    them with the predictions: mean / max relative error, Kendall's tau, Spearman's rho.
    The record carries the table's timing; its path and the machine are the caller's to add."""

    table.check_space(space)
    resolve_device(table.timing.device)
    if positive_int("samples", samples) < 2:
        raise ValueError(f"samples must be >= 2 to compute rank correlations, got {samples}")
    rng = random.Random(f"latency-check:{seed}")
    archs = [space.sample(rng) for _ in range(samples)]
    predicted = [table.predict(space, a) for a in archs]
    measured = archs_ms(table.timing, space, archs, progress=progress, desc="latency check")
    errors = [abs(p - m) / m for p, m in zip(predicted, measured)]
    unglued = [abs(p - table.glue_ms - m) / m for p, m in zip(predicted, measured)]
    return LatencyCheck(
        samples=samples,
        seed=seed,
        mean_rel_error=statistics.fmean(errors),
        max_rel_error=max(errors),
        mean_rel_error_without_glue=statistics.fmean(unglued),
        kendall_tau=kendall_tau(predicted, measured),
        spearman_rho=spearman_rho(predicted, measured),
        rows=tuple(LatencyCheckRow(a.id, p, m) for a, p, m in zip(archs, predicted, measured)),
        timing=asdict(table.timing),
    )
