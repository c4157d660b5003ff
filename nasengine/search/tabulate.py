"""Benchmark tables: train every architecture of a small space and store the
accuracies, so that controllers can be compared by replay (``--evaluator table:FILE``).

Progress is appended to ``FILE.partial.jsonl`` after every architecture; an interrupted
run started again with the same arguments continues where it stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nasengine.evaluators.train import TrainEvaluator
from nasengine.space import SearchSpace
from nasengine.utils.progress import progress_bar

MAX_ARCHS = 5000


def tabulate(space: SearchSpace, out: str | Path, *, seeds: int = 1, progress: bool = True,
             **train_options: Any) -> dict[str, Any]:
    """Train every arch of ``space`` with ``TrainEvaluator(**train_options)``; write JSON.

    With ``seeds`` > 1 each arch is trained with seeds ``seed .. seed+seeds-1`` and the
    mean accuracy is stored: training noise would otherwise swamp small differences. The
    table records the count as ``train.repeats``, like the tables written before the option
    was renamed.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
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
    evaluators = [TrainEvaluator(space, seed=seed + r, **train_options) for r in range(seeds)]
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
             "train": {**train_options, "seed": seed, "repeats": seeds},
             "entries": [done[a.id] for a in archs]}
    out.write_text(json.dumps(table, indent=1) + "\n")
    partial.unlink()
    return table
