"""Export the best architectures of a search as ready folders:
``exports/<arch-id>/{arch.json, weights.pt}``; ``nasengine train --arch`` retrains them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from nasengine.evaluators import Evaluator
from nasengine.space import SearchSpace


def top_rows(result: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """Best ``k`` completed trials by accuracy; multi-objective searches take them from
    the accuracy-vs-MACs Pareto front first."""
    done = [r for r in result["trials"] if r["state"] == "COMPLETE"]
    if len(result["objectives"]) > 1:
        front_ids = {r["number"] for r in result["pareto_front"]["acc_vs_macs"]}
        done.sort(key=lambda r: (r["number"] not in front_ids, -r["metrics"]["acc"], r["number"]))
    else:
        done.sort(key=lambda r: (-r["metrics"]["acc"], r["number"]))
    unique, seen = [], set()
    for row in done:
        if row["arch_id"] not in seen:
            seen.add(row["arch_id"])
            unique.append(row)
    return unique[:k]


def export_top(out: str | Path, space: SearchSpace, result: dict[str, Any], k: int,
               evaluator: Evaluator | None = None) -> list[Path]:
    """Write the top ``k`` architectures; test accuracy is measured here, and only here."""
    out = Path(out)
    folders = []
    for row in top_rows(result, k):
        arch = space.arch(row["choices"])
        folder = out / "exports" / arch.id
        folder.mkdir(parents=True, exist_ok=True)
        metrics = {"val_acc": row["metrics"]["acc"], **{k: v for k, v in row["metrics"].items() if k != "acc"}}
        weights = out / "weights" / f"{arch.id}.pt"
        if weights.exists():
            shutil.copyfile(weights, folder / "weights.pt")
            if evaluator is not None:
                model = space.build(arch)
                model.load_state_dict(torch.load(weights, map_location="cpu"))
                test = evaluator.test_accuracy(arch, model)
                if test is not None:
                    metrics["test_acc"] = test
        doc = {**arch.to_dict(), "id": arch.id, "cost": space.cost(arch).to_dict(), "metrics": metrics,
               "trial": row["number"]}
        (folder / "arch.json").write_text(json.dumps(doc, indent=2) + "\n")
        folders.append(folder)
    return folders
