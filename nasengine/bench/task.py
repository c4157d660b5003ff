"""``nasengine bench task``: does the task tell architectures apart?

Reads a benchmark table trained with two or more seeds per architecture (``nasengine
tabulate --seeds 2``) and measures what a search depends on: how far the architectures'
accuracies spread compared with the seed-to-seed noise of one architecture, and whether
two seeds rank the architectures alike (Kendall tau between seed 0 and seed 1). A task
on which seeds disagree cannot reward a search: any controller picks at random there.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any, Sequence

from nasengine.bench.base import BenchSuite
from nasengine.cost import parse_amount
from nasengine.evaluators.table import read_table
from nasengine.utils.stats import kendall_tau, spearman_rho

DEFAULT_TABLE = "reports/tables/kernels_cluttered.json"
#: What the default task promises (issue-level targets, checked and reported per table).
MIN_SPREAD_RATIO, MIN_SEED_TAU = 3.0, 0.7


def task_figures(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Spread, noise and seed-to-seed agreement of table ``entries`` (each with ``accs``).

    * ``spread``: standard deviation across archs of the per-arch mean accuracy.
    * ``seed_std``: mean over archs of the sample standard deviation of its seeds' accuracies.
    * ``seed_tau`` / ``seed_rho``: Kendall tau / Spearman rho between the first two seeds.
    """
    runs = [e["accs"] for e in entries if len(e.get("accs", ())) >= 2]
    if len(runs) < 3:
        raise ValueError(f"a task check needs >= 3 archs trained with >= 2 seeds each (tabulate --seeds 2); "
                         f"the table has {len(runs)}")
    means = [statistics.fmean(r) for r in runs]
    spread = statistics.pstdev(means)
    noise = statistics.fmean(statistics.stdev(r) for r in runs)
    first, second = [r[0] for r in runs], [r[1] for r in runs]
    macs = [e["macs"] for e in entries if len(e.get("accs", ())) >= 2]
    ordered = sorted(means)
    return {
        "archs": len(runs),
        "seeds": min(len(r) for r in runs),
        "acc_min": round(ordered[0], 4),
        "acc_median": round(statistics.median(ordered), 4),
        "acc_max": round(ordered[-1], 4),
        "macs_min": min(macs),
        "macs_max": max(macs),
        "spread": round(spread, 5),
        "seed_std": round(noise, 5),
        "spread_ratio": round(spread / noise, 2) if noise > 0 else float("inf"),
        "seed_tau": round(kendall_tau(first, second), 3),
        "seed_rho": round(spearman_rho(first, second), 3),
    }


def bench_task(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name in args.table:
        path = Path(name)
        doc = read_table(path)
        entries = [e for e in doc["entries"] if args.max_macs is None or e["macs"] <= args.max_macs]
        row: dict[str, Any] = {"table": str(path), "space": doc.get("space"),
                               "dataset": doc.get("train", {}).get("dataset"),
                               "epochs": doc.get("train", {}).get("epochs"), "max_macs": args.max_macs}
        row.update(task_figures(entries))
        row["meets_targets"] = row["spread_ratio"] >= MIN_SPREAD_RATIO and row["seed_tau"] >= MIN_SEED_TAU
        rows.append(row)
    return rows


def _task_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", nargs="+", default=[DEFAULT_TABLE],
                   help="benchmark tables trained with >= 2 seeds per arch (`nasengine tabulate --seeds 2`)")
    p.add_argument("--max-macs", type=parse_amount, metavar="N",
                   help="only the archs with at most N MACs (a search's limit: what it chooses among)")


TASK_SUITE = BenchSuite(help="does the task tell archs apart: accuracy spread vs seed noise, seed-to-seed Kendall tau",
                        add_arguments=_task_arguments, run=bench_task)
