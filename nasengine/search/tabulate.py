"""``nasengine tabulate``: train every architecture of a small space and store the
accuracies, so that controllers can be compared by replay (``--evaluator table:FILE``).

Progress is appended to ``FILE.partial.jsonl`` after every architecture; an interrupted
run started again with the same arguments continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from nasengine.cli.common import make_space, parse_sets
from nasengine.data.datasets import DATASETS
from nasengine.evaluators.train import TrainEvaluator
from nasengine.utils.progress import progress_bar
from nasengine.space import SearchSpace

MAX_ARCHS = 5000


def tabulate(space: SearchSpace, out: str | Path, *, repeats: int = 1, progress: bool = True,
             **train_options: Any) -> dict[str, Any]:
    """Train every arch of ``space`` with ``TrainEvaluator(**train_options)``; write JSON.

    With ``repeats`` > 1 each arch is trained with seeds ``seed .. seed+repeats-1`` and the
    mean accuracy is stored: training noise would otherwise swamp small differences.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    out = Path(out)
    partial = out.with_name(out.name + ".partial.jsonl")
    archs = list(space.all_archs(limit=MAX_ARCHS))
    done: dict[str, dict[str, Any]] = {}
    if partial.exists():
        for line in partial.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                done[entry["id"]] = entry
    seed = train_options.pop("seed", 0)
    evaluators = [TrainEvaluator(space, seed=seed + r, **train_options) for r in range(repeats)]
    out.parent.mkdir(parents=True, exist_ok=True)
    todo = [a for a in archs if a.id not in done]
    with partial.open("a") as log:
        for arch in progress_bar(todo, enabled=progress, desc="tabulate", total=len(todo)):
            t0 = time.perf_counter()
            accs = [ev.evaluate(arch).metrics["acc"] for ev in evaluators]
            acc = sum(accs) / len(accs)
            cost = space.cost(arch)
            entry = {"id": arch.id, "choices": dict(arch.choices), "acc": acc, "accs": accs, **cost.to_dict(),
                     "seconds": round(time.perf_counter() - t0, 3)}
            done[arch.id] = entry
            log.write(json.dumps(entry) + "\n")
            log.flush()
    table = {"space": space.name, "config": json.loads(json.dumps(space.config.to_dict())),
             "train": {**train_options, "seed": seed, "repeats": repeats},
             "entries": [done[a.id] for a in archs]}
    out.write_text(json.dumps(table, indent=1) + "\n")
    partial.unlink()
    return table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tabulate", help="train every architecture of a small space (benchmark table)")
    p.add_argument("--space", required=True)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--data-root")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1, help="seeds per architecture (mean accuracy is stored)")
    p.add_argument("--out", required=True, help="table JSON file")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_tabulate)


def cmd_tabulate(args: argparse.Namespace) -> int:
    space = make_space(args.space, parse_sets(args.set))
    table = tabulate(space, args.out, repeats=args.repeats, progress=not args.quiet, dataset=args.dataset, data_root=args.data_root,
                     epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    accs = sorted(e["acc"] for e in table["entries"])
    print(f"{len(accs)} architectures: acc min {accs[0]:.4f}  median {accs[len(accs) // 2]:.4f}  max {accs[-1]:.4f}")
    print(f"wrote {args.out}")
    return 0
