"""``nasengine bench value``: does a search find better architectures than random picks?

Runs real searches (training proxies, supernets) on the space and data of a benchmark
table, several search seeds per strategy, and judges each search's best architecture by
its accuracy in the table: every table entry was trained from scratch with the same
budget and seeds, so the table *is* the retraining, the same for found and random archs.
A find that a sampled table lacks is trained with the table's recipe and seeds
(``found_trained_for_bench`` counts them).
The reference is the median table accuracy of the archs under the same limit (what a
random pick gets), and the yardstick the table's seed-to-seed standard deviation.
For one-shot strategies the supernet's ranking of every feasible table arch is also
compared with the table (Kendall tau): the rank check over the whole feasible set.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from nasengine.bench.base import BenchSuite
from nasengine.bench.retrained import RetrainedEntries
from nasengine.bench.task import task_figures
from nasengine.cli.common import parse_sets
from nasengine.cost import parse_amount
from nasengine.evaluators.table import read_table
from nasengine.search.config import STRATEGIES, SearchConfig

DEFAULT_STRATEGIES = ("spos", "evolution", "rl", "random")
#: How far (in seed standard deviations) a search's find must beat the median random arch.
MIN_MARGIN = 2.0


def search_config(table: dict[str, Any], strategy: str, seed: int, args: argparse.Namespace, out: Path) -> SearchConfig:
    """The search one (strategy, seed) cell runs: the table's space and data, the bench's budget."""
    from nasengine.registry import CONTROLLERS

    plan = STRATEGIES.get(strategy)
    one_shot = plan.pretrain is not None
    accepted = CONTROLLERS.options(plan.controller)
    options = {k: v for k, v in parse_sets(args.controller_set).items() if accepted is None or k in accepted}
    return SearchConfig(space=table["space"], space_config=table["config"], strategy=strategy,
                        controller_options=options,
                        dataset=table["train"].get("dataset", "digits"), epochs=args.epochs,
                        pretrain_epochs=args.pretrain_epochs, pretrain_options=parse_sets(args.pretrain_set),
                        max_macs=args.max_macs, trials=args.oneshot_trials if one_shot else args.trials,
                        seed=seed, top_k=1, out=str(out))


def bench_value(args: argparse.Namespace) -> list[dict[str, Any]]:
    from nasengine.search.rankcheck import rank_check
    from nasengine.search.runner import run_search

    for name in ("seeds", "trials", "oneshot_trials", "epochs", "pretrain_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    table = read_table(args.table)
    if not isinstance(table.get("train"), dict):
        raise ValueError(f"benchmark table {args.table!r} has no 'train' settings (the dataset the searches use); "
                         "make it with `nasengine tabulate`")
    if args.max_macs is None:  # the limit the table's archs were drawn under
        args.max_macs = (table.get("selection") or {}).get("max_macs")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for strategy in strategies:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES.names())}")
        search_config(table, strategy, 0, args, Path(args.runs) / f"{strategy}-s0")  # refuses bad options now
    limit = args.max_macs
    feasible = [e for e in table["entries"] if limit is None or e["macs"] <= limit]
    if len(feasible) < 3:
        raise ValueError(f"only {len(feasible)} table archs lie under the limit; raise --max-macs")
    judged = RetrainedEntries(table, Path(args.runs) / f"retrained-{Path(args.table).stem}.jsonl")
    noise = task_figures(feasible)["seed_std"]
    median = statistics.median(e["acc"] for e in feasible)
    best = max(e["acc"] for e in feasible)
    rows = []
    for strategy in strategies:
        found, taus, seconds, retrained = [], [], 0.0, 0
        for seed in range(args.seeds):
            out = Path(args.runs) / f"{strategy}-s{seed}"
            cfg = search_config(table, strategy, seed, args, out)
            result = run_search(cfg, resume=(out / "study.db").exists(), progress=False)
            # what the search spent, as its result records it (a resumed run adds nothing)
            seconds += (result.get("pretrain_seconds") or 0.0) + sum(t.get("seconds") or 0.0 for t in result["trials"])
            best_arch = result["best"]
            retrained += best_arch["arch_id"] not in judged.entries
            found.append(judged.acc(best_arch["arch_id"], best_arch["choices"]))
            if cfg.pretrain is not None:  # the rank check over every feasible table arch
                taus.append(rank_check(out, table=args.table, progress=False).kendall_tau)
        mean = statistics.fmean(found)
        row: dict[str, Any] = {"strategy": strategy, "seeds": args.seeds, "found_acc": round(mean, 4),
                               "found_std": round(statistics.pstdev(found), 4), "median_random": round(median, 4),
                               "table_best": round(best, 4), "seed_std": round(noise, 4),
                               "margin_in_seed_std": round((mean - median) / noise, 2),
                               "found_per_seed": [round(a, 4) for a in found],
                               "search_seconds": round(seconds / args.seeds, 1),
                               "found_trained_for_bench": retrained}
        if taus:
            row["oneshot_tau"] = round(statistics.fmean(taus), 3)
            row["oneshot_tau_per_seed"] = [round(t, 3) for t in taus]
        row["meets_target"] = row["margin_in_seed_std"] >= MIN_MARGIN
        rows.append(row)
    return rows


def _value_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", default="reports/tables/kernels_cluttered.json",
                   help="benchmark table of the space and data to search (`nasengine tabulate --seeds 2`)")
    p.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES), help="comma-separated strategies")
    p.add_argument("--seeds", type=int, default=5, help="search seeds per strategy")
    p.add_argument("--max-macs", type=parse_amount, metavar="N",
                   help="hard MACs limit of every search (default: the limit the table was sampled under, if any)")
    p.add_argument("--trials", type=int, default=20, help="trials of a search that trains each candidate")
    p.add_argument("--epochs", type=int, default=3, help="proxy training epochs per candidate")
    p.add_argument("--oneshot-trials", type=int, default=40, help="trials of a one-shot search (inherited weights)")
    p.add_argument("--pretrain-epochs", type=int, default=20, help="supernet training epochs")
    p.add_argument("--pretrain-set", action="append", metavar="KEY=VALUE", help="supernet training option (repeatable)")
    p.add_argument("--controller-set", action="append", metavar="KEY=VALUE",
                   help="controller option, given to each controller that accepts it (repeatable)")
    p.add_argument("--runs", default="runs/bench-value", help="folder of the search runs (reruns resume)")


VALUE_SUITE = BenchSuite(help="searches (several seeds) vs the median random arch under the same limit, judged by a table",
                         add_arguments=_value_arguments, run=bench_value)
