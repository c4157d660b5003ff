"""``nasengine show RUN``: what a search run was and what it found, without opening its files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nasengine.arch import choices_line
from nasengine.cli.common import UsageError
from nasengine.cost import human
from nasengine.export.export import top_rows
from nasengine.records import TrialRecord
from nasengine.report.runs import Run, load_run

#: Rows shown when neither ``--top-k`` nor the run's own ``top_k`` says how many.
DEFAULT_TOP_K = 5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="a search run's settings and its best architectures")
    p.add_argument("run", help="search run folder (holds result.json)")
    p.add_argument("--top-k", type=int, help=f"architectures to list (default: the run's top-k, else {DEFAULT_TOP_K})")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {args.top_k}")
    if not Path(args.run).is_dir():
        raise UsageError(f"RUN {args.run!r} is not a folder")
    summary = summarize(load_run(args.run), args.top_k)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0


def summarize(run: Run, top_k: int | None = None) -> dict[str, Any]:
    """The run's settings and its ``top_k`` best architectures (as ``nasengine export`` ranks
    them) as plain JSON types."""
    result = run.result
    k = top_k or int(run.config.get("top_k") or DEFAULT_TOP_K)
    limits = {**result.constraints, "max_latency_ms": run.config.get("max_latency_ms")}
    return {
        "run": str(run.path),
        "strategy": result.strategy,
        "controller": result.controller,
        "evaluator": result.evaluator,
        "space": result.space,
        "space_config": result.space_config,
        "dataset": run.config.get("dataset"),
        "objectives": list(result.objectives),
        "limits": {key: value for key, value in limits.items() if value is not None},
        "trials": result.completed,
        "failed": sum(t.state == "FAIL" for t in result.trials),
        "pruned": sum(t.state == "PRUNED" for t in result.trials),
        "fix": run.config.get("fix") or {},
        "tune": run.config.get("tune") or {},
        "pruner": run.config.get("pruner") or "none",
        "top": [_row(run.path, rank, t) for rank, t in enumerate(top_rows(result, k), start=1)],
    }


def _row(path: Path, rank: int, trial: TrialRecord) -> dict[str, Any]:
    export = path / "exports" / str(trial.arch_id)
    return {
        "rank": rank,
        "arch_id": trial.arch_id,
        "trial": trial.number,
        "choices": trial.choices,
        **({"hparams": trial.hparams} if trial.hparams else {}),
        "acc": trial.acc,
        **(trial.cost or {}),
        "export": str(export) if export.is_dir() else None,
    }


def print_summary(summary: dict[str, Any]) -> None:
    """The summary as a short text: settings first, then one block per architecture."""
    limits = ", ".join(_limit(key, value) for key, value in summary["limits"].items()) or "none"
    strategy = summary["strategy"] or f"controller {summary['controller']}, evaluator {summary['evaluator']}"
    print(f"run {summary['run']}")
    print(f"  strategy {strategy}; objectives {','.join(summary['objectives'])}")
    print(f"  space {summary['space']}; dataset {summary['dataset'] or '?'}; limits {limits}")
    pruned = f", {summary['pruned']} pruned ({summary['pruner']})" if summary["pruner"] != "none" else ""
    print(f"  trials {summary['trials']} completed, {summary['failed']} failed{pruned}")
    if summary["fix"]:
        print(f"  fixed {choices_line(summary['fix'])}")
    if summary["tune"]:
        print(f"  tuned {' '.join(f'{k}={v}' for k, v in summary['tune'].items())}")
    for row in summary["top"]:
        cost = f"{human(row['macs'])} MACs  {human(row['params'])} params" if "macs" in row else "no cost"
        latency = f"  {row['latency_ms']:.3f} ms" if "latency_ms" in row else ""
        print(f"#{row['rank']}  {row['arch_id']}  acc {row['acc']:.4f}  {cost}{latency}  (trial {row['trial']})")
        print(f"    {choices_line(row['choices'])}")
        if "hparams" in row:
            print(f"    train {choices_line(row['hparams'])}")
        if row["export"]:
            print(f"    export: {row['export']}")


def _limit(key: str, value: float) -> str:
    unit = {"max_macs": " MACs", "max_params": " params", "max_latency_ms": " ms"}.get(key, "")
    amount = f"{value:g}" if key == "max_latency_ms" else human(value)
    return f"{amount}{unit}"
