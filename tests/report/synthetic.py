"""Small synthetic search run folders and report contexts: the report's wording, tables and
figures can be tested without running a search or retraining a network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nasengine.cost import Cost
from nasengine.records import RankCheck, RankCheckRow, SearchResult, TrialRecord
from nasengine.report import ReportConfig
from nasengine.report.baselines import Candidate, RetrainConfig
from nasengine.report.runs import Run, load_run
from nasengine.report.simple import SimpleBaseline

CHOICES = ({"block0": "k3", "block1": "k5", "block2": "xception"}, {"block0": "k7", "block1": "k3", "block2": "k5"},
           {"block0": "k5", "block1": "k5", "block2": "k3"})


def trial(number: int, acc: float, seconds: float = 2.0, latency_ms: float | None = None) -> TrialRecord:
    cost: dict[str, Any] = {"macs": 30_000 + 1_000 * number, "params": 10_000 + 100 * number}
    if latency_ms is not None:
        cost["latency_ms"] = latency_ms
    return TrialRecord(number, "COMPLETE", f"arch{number:08d}", dict(CHOICES[number % len(CHOICES)]), cost,
                       {"acc": acc}, (acc,), seconds, None)


def rank_check(seeds: int = 2) -> RankCheck:
    rows = tuple(RankCheckRow(f"a{i}", 1000 * (i + 1), 0.5 + 0.1 * i, 0.6 + 0.05 * y,
                              tuple(0.6 + 0.05 * y + 0.01 * s for s in range(seeds)))
                 for i, y in enumerate((1, 0, 2)))
    return RankCheck(samples=3, epochs=4, seed=0, seeds=seeds, evaluator="supernet", kendall_tau=0.333,
                     spearman_rho=0.5, seed_to_seed_tau=0.75 if seeds > 1 else None, seconds=42.0, rows=rows,
                     run="runs/spos", command="nasengine rankcheck runs/spos --samples 3 --epochs 4 --seeds 2")


def write_run(folder: Path, *, strategy: str, evaluator: str, epochs: int = 3, pretrain_seconds: float | None = None,
              max_macs: float | None = 40_000, max_latency_ms: float | None = None,
              rankcheck: RankCheck | None = None, latency: bool = False) -> Path:
    """A run folder holding ``result.json`` and ``config.yaml`` as a search writes them."""
    folder.mkdir(parents=True)
    trials = tuple(trial(i, 0.8 + 0.02 * i, latency_ms=10.0 + i if latency else None) for i in range(3))
    constraints: dict[str, Any] = {"max_macs": max_macs, "max_params": None}
    if max_latency_ms is not None:
        constraints["max_latency_ms"] = max_latency_ms
    controller = {"spos": "evolution", "enas": "rl", "metapruning": "evolution"}.get(strategy, strategy)
    SearchResult(space="shufflenet", space_config={}, strategy=strategy, controller=controller, evaluator=evaluator,
                 objectives=("acc",), constraints=constraints, completed=3, best=trials[-1], pareto_front={},
                 trials=trials, rankcheck=rankcheck, pretrain_seconds=pretrain_seconds).save(folder / "result.json")
    config = {"space": "shufflenet", "strategy": strategy, "controller": controller, "evaluator": evaluator,
              "dataset": "digits", "epochs": epochs, "max_macs": max_macs, "trials": 3, "seed": 0, "out": str(folder)}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def candidate(label: str, choices: dict[str, Any] | None, accs: list[float], run: str | None = None) -> Candidate:
    c = Candidate(label, label, "run x" if choices else "hand-designed (timm)", lambda: None,  # type: ignore[arg-type]
                  (1, 8, 8), choices is None, 0.9 if choices else None, run=run, choices=choices)
    mean = sum(accs) / len(accs)
    c.stats.update({"cost": Cost(35_000, 12_000), "latency_ms": 1.5, "val_acc": (mean, 0.01), "test_acc": (mean, 0.02),
                    "val_accs": accs, "test_accs": accs, "n_val": 359, "n_test": 360, "seconds": 1.0})
    return c


def context(runs: list[Run], *, seeds: int = 3, candidates: list[Candidate] | None = None) -> dict[str, Any]:
    """What ``make_report`` hands ``report_blocks``, without retraining anything."""
    accs = [0.95, 0.96, 0.97][:seeds]
    cands = candidates if candidates is not None else [
        candidate("shufflenet arch00000002", dict(CHOICES[2]), accs, runs[0].label),
        candidate("timm:mobilenetv3_small_050", None, accs)]
    simple = SimpleBaseline("logistic regression (raw pixels)", "simple baseline (scikit-learn)", (1, 8, 8), 640, 650,
                            0.95, 0.9611, 359, 360, 0.1)
    return {"cfg": ReportConfig(runs=tuple(str(r.path) for r in runs), retrain=RetrainConfig(seeds=seeds)),
            "runs": runs, "candidates": cands, "simple": simple, "specs": [], "dataset": "digits",
            "num_classes": 10, "figures": {"pareto_macs": "pareto_macs.png", "pareto_latency": "pareto_latency.png",
                                           "progress": "progress.png",
                                           **{f"rankcheck_{i}": f"rankcheck_{i}.png" for i in range(len(runs))}},
            "rankchecks": [(r, r.result.rankcheck) for r in runs if r.result.rankcheck is not None],
            "date": "2026-01-01", "machine": {}, "versions": {}}


def two_runs(root: Path) -> list[Run]:
    """A train-proxy run (evolution, 3 epochs) and a one-shot run (spos, 100 s of pretraining)."""
    return [load_run(write_run(root / "evo", strategy="evolution", evaluator="train")),
            load_run(write_run(root / "spos", strategy="spos", evaluator="supernet", epochs=7, pretrain_seconds=100.0,
                               rankcheck=rank_check()))]
