"""``nasengine bench controllers``: controllers replayed on a tabulated benchmark.

Each controller runs for several seeds on the table (no training: every score is a
look-up), and the mean regret curve (table optimum minus best found so far) is reported.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import optuna

from nasengine.bench.base import BenchSuite
from nasengine.controller import suggest_arch
from nasengine.evaluators.table import TableEvaluator, read_table
from nasengine.registry import CONTROLLERS, get_space

DEFAULT_TABLE = "reports/tables/shufflenet_digits.json"
DEFAULT_CONTROLLERS = ("random", "evolution", "rl", "tpe")


def regret_curve(name: str, space: Any, table: TableEvaluator, seed: int, trials: int,
                 options: dict | None = None, max_macs: float | None = None) -> list[float]:
    """Regret after each trial of one seeded search (proposing only archs under ``max_macs``,
    the limit the table was made under)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = CONTROLLERS.create(name, space, seed=seed, **(options or {}))
    if max_macs is not None:
        sampler.set_constraint(lambda arch: space.cost(arch).macs <= max_macs)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: table.evaluate(suggest_arch(t, space)).metrics["acc"], n_trials=trials)
    best, curve, optimum = float("-inf"), [], table.best()
    for t in sorted(study.trials, key=lambda t: t.number):
        best = max(best, t.values[0])
        curve.append(optimum - best)
    return curve


def bench_controllers(args: argparse.Namespace) -> list[dict[str, Any]]:
    for name in ("seeds", "trials"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    path = Path(args.table)
    doc = read_table(path)
    space = get_space(doc["space"], **doc["config"])
    table = TableEvaluator(space, path=path)
    selection = doc.get("selection") or {}
    if selection.get("samples") is not None:
        raise ValueError(f"table {str(path)!r} holds {len(table.entries)} sampled archs of space {doc['space']!r} "
                         "(tabulate --samples): controllers would propose archs it lacks; replay a table of every "
                         "arch of a space (tabulate without --samples, optionally under --max-macs)")
    max_macs = selection.get("max_macs")
    names = [n.strip() for n in args.controllers.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTROLLERS]
    if unknown:
        raise ValueError(f"unknown controller(s) {unknown}; available: {', '.join(CONTROLLERS.names())}")
    checkpoints = [c for c in (10, 20, 30, 50, 75, 100, 150, 200) if c <= args.trials]
    rows = []
    for name in names:
        curves = [regret_curve(name, space, table, seed, args.trials, max_macs=max_macs) for seed in range(args.seeds)]
        mean = [statistics.fmean(c[i] for c in curves) for i in range(args.trials)]
        row: dict[str, Any] = {"controller": name, "seeds": args.seeds, "trials": args.trials, "table_size": len(table.entries)}
        row.update({f"regret@{c}": round(mean[c - 1], 5) for c in checkpoints})
        row["mean_regret"] = round(statistics.fmean(mean), 5)
        row["found_optimum"] = sum(c[-1] == 0 for c in curves)
        row["curve"] = [round(v, 5) for v in mean]
        rows.append(row)
    return rows


def _controllers_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", default=DEFAULT_TABLE, help="benchmark table (made by `nasengine tabulate`)")
    p.add_argument("--controllers", default=",".join(DEFAULT_CONTROLLERS), help="comma-separated controller names")
    p.add_argument("--seeds", type=int, default=10, help="seeds per controller")
    p.add_argument("--trials", type=int, default=50, help="trials per search")


CONTROLLERS_SUITE = BenchSuite(help="controllers replayed on a tabulated benchmark: mean regret curves",
                               add_arguments=_controllers_arguments, run=bench_controllers)
