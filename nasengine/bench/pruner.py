"""``nasengine bench pruner``: what early stopping saves, and what it costs.

Runs the same search (space, data, controller, trials, epochs) with each pruner over
several seeds and records, per pruner, the training time (the trials' seconds, summed),
the epochs trained, the trials pruned and the best validation accuracy found, each as
mean ± std over seeds, and the time saved against ``none``. With the default ``random``
controller every pruner sees the same candidates in the same order (its proposals depend
on the seed and the trial number only), so the differences are the pruner's alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasengine.bench.base import BenchSuite, mean_std
from nasengine.cli.common import parse_sets
from nasengine.cost import parse_amount
from nasengine.search.config import SearchConfig
from nasengine.search.pruning import PRUNERS

#: The digits setting: a small ShuffleNet on 8x8 greyscale digits (seconds per candidate on a CPU).
DIGITS_SPACE = {"input_size": 8, "num_classes": 10, "in_channels": 1, "stem_channels": 8, "stem_stride": 1,
                "stage_repeats": [1, 1, 2, 1], "stage_channels": [16, 24, 32, 48], "last_channels": 64}


def pruner_options(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The ``--pruner-set`` options that pruner ``name`` takes (each pruner gets its own)."""
    from inspect import signature

    from nasengine.search.pruning import pruner_class

    accepted = signature(pruner_class(name)).parameters
    return {k: v for k, v in given.items() if k in accepted}



def bench_pruner(args: argparse.Namespace) -> list[dict[str, Any]]:
    from nasengine.search.runner import run_search

    names = [p.strip() for p in args.pruners.split(",") if p.strip()]
    bad = [p for p in names if p not in PRUNERS]
    if bad or not names:
        raise ValueError(f"--pruners: unknown pruner(s) {bad or [args.pruners]}; choose from {', '.join(PRUNERS)}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    space_config = {**DIGITS_SPACE, **parse_sets(args.set)}
    given = parse_sets(args.pruner_set)
    rows = []
    for name in names:
        seconds, epochs, pruned, best = [], [], [], []
        for seed in range(args.seeds):
            out = Path(args.runs) / f"{name}-s{seed}"
            cfg = SearchConfig(space=args.space, space_config=space_config, controller=args.controller,
                               dataset=args.dataset, epochs=args.epochs, trials=args.trials, max_macs=args.max_macs,
                               seed=seed, top_k=1, pruner=name, pruner_options=pruner_options(name, given),
                               out=str(out))
            result = run_search(cfg, resume=(out / "study.db").exists(), progress=False)
            trials = [t for t in result["trials"] if t["state"] in ("COMPLETE", "PRUNED")]
            seconds.append(sum(t["seconds"] or 0.0 for t in trials))
            epochs.append(sum(t.get("epochs") or args.epochs for t in trials))
            pruned.append(sum(t["state"] == "PRUNED" for t in trials))
            best.append(result["best"]["metrics"]["acc"])
        row: dict[str, Any] = {"pruner": name, "seeds": args.seeds, "trials": args.trials, "epochs": args.epochs}
        row["train_seconds"], row["train_seconds_std"] = mean_std(seconds, 1)
        row["epochs_trained"], row["epochs_trained_std"] = mean_std(epochs, 1)
        row["pruned"], row["pruned_std"] = mean_std(pruned, 2)
        row["best_acc"], row["best_acc_std"] = mean_std(best, 4)
        row.update({"train_seconds_per_seed": [round(s, 1) for s in seconds], "pruned_per_seed": pruned,
                    "best_acc_per_seed": [round(a, 4) for a in best]})
        rows.append(row)
    baseline = next((r for r in rows if r["pruner"] == "none"), None)
    for row in rows:
        row["time_saved"] = None if baseline is None else round(1 - row["train_seconds"] / baseline["train_seconds"], 3)
        row["acc_change"] = None if baseline is None else round(row["best_acc"] - baseline["best_acc"], 4)
    return rows


def _pruner_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pruners", default=",".join(PRUNERS), help="comma-separated pruners (none is the baseline)")
    p.add_argument("--seeds", type=int, default=5, help="search seeds per pruner")
    p.add_argument("--trials", type=int, default=12, help="trials per search (complete or pruned)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs per candidate (a pruned one trains fewer)")
    p.add_argument("--controller", default="random", help="the search's controller (random: the same candidates for "
                                                           "every pruner)")
    p.add_argument("--space", default="shufflenet")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="space config value over the small digits ShuffleNet (repeatable)")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--max-macs", type=parse_amount, metavar="N", help="hard MACs limit of every search")
    p.add_argument("--pruner-set", action="append", metavar="KEY=VALUE",
                   help="pruner option, given to each pruner that takes it (repeatable), e.g. n_startup_trials=3")
    p.add_argument("--runs", default="runs/bench-pruner", help="folder of the search runs (reruns resume)")


PRUNER_SUITE = BenchSuite(help="searches with each pruner (several seeds): training time, epochs, trials pruned, "
                               "best accuracy, time saved vs none",
                          add_arguments=_pruner_arguments, run=bench_pruner)
