"""``nasengine bench SUITE``: measured figures, printed as a table and written as JSON.

Every report records the machine and library versions next to each figure. Ratios are
measured within one process so they stay comparable on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from nasengine.records import BenchReport
from nasengine.registry import get_space
from nasengine.utils.files import jsonable

SUITES: dict[str, Callable[[argparse.Namespace], list[dict[str, Any]]]] = {}


def suite(name: str) -> Callable:
    def add(fn: Callable) -> Callable:
        if name in SUITES:
            raise ValueError(f"bench suite {name!r} is already registered")
        SUITES[name] = fn
        return fn

    return add


def machine_info() -> dict[str, Any]:
    import numpy

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def write_report(name: str, rows: list[dict[str, Any]], out: str | Path) -> Path:
    """Write suite ``name``'s ``rows`` with the date and this machine (a ``BenchReport``)."""
    report = BenchReport(suite=name, date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         machine=machine_info(), rows=tuple(jsonable(rows)))
    return report.save(out)


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = [k for k in rows[0] if not isinstance(rows[0][k], (list, dict))]  # curves go to JSON only
    cells = [[_fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# Configurations timed by ``bench cost``: the published settings and small ones.
COST_CASES: list[tuple[str, dict[str, Any]]] = [
    ("shufflenet", {}),
    ("shufflenet", {"channel_search": True}),
    ("nas_cell", {"cells_per_stage": 4, "filters": 44, "stem": "imagenet", "input_size": 224, "num_classes": 1000}),
    ("channel_width", {"backbone": "mobilenet_v2"}),
    ("channel_width", {"backbone": "resnet50"}),
]


@suite("cost")
def bench_cost(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Architectures per second of ``space.cost`` (after the one-off table build)."""
    rows = []
    n = args.samples
    for name, config in COST_CASES:
        space = get_space(name, **config)
        t0 = time.perf_counter()
        space.cost(space.sample(0))  # builds the lookup table
        table_seconds = time.perf_counter() - t0
        archs = [space.sample(seed) for seed in range(n)]
        t0 = time.perf_counter()
        for arch in archs:
            space.cost(arch)
        seconds = time.perf_counter() - t0
        rows.append({"space": name, "config": json.dumps(config, sort_keys=True), "archs": n,
                     "table_build_s": round(table_seconds, 4), "archs_per_s": round(n / seconds, 1)})
    return rows


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite and write JSON under reports/bench/")
    p.add_argument("suite", choices=sorted(SUITES))
    p.add_argument("--out", help="JSON file (default reports/bench/SUITE.json)")
    p.add_argument("--samples", type=int, default=20000, help="architectures per space (cost suite)")
    p.add_argument("--table", help="benchmark table (controllers suite)")
    p.add_argument("--controllers", help="comma-separated controller names (controllers suite)")
    p.add_argument("--seeds", type=int, default=10, help="seeds per controller / retrained net (controllers, metapruning)")
    p.add_argument("--trials", type=int, default=50, help="trials per search (controllers, metapruning suites)")
    p.add_argument("--pretrain-epochs", type=int, default=30, help="PruningNet training epochs (metapruning suite)")
    p.add_argument("--retrain-epochs", type=int, default=30, help="from-scratch training epochs (metapruning suite)")
    p.add_argument("--max-macs", help="MACs limit, e.g. 400K (metapruning suite; default: the uniform 0.5x net's)")
    p.add_argument("--archs", type=int, default=8, help="sampled architectures per case (supernet suite)")
    p.add_argument("--repeats", type=int, default=20, help="timed steps per architecture (supernet suite) / calls per timing (kernels suite)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (kernels suite)")
    p.add_argument("--methods", help="comma-separated dynamic methods (dynamic suite; default rnp,skipnet)")
    p.add_argument("--dynamic-run", action="append", help="time this trained dynamic run instead of training one (dynamic suite; repeatable)")
    p.add_argument("--width-mult", type=float, default=1.0, help="backbone width multiplier (dynamic suite)")
    p.add_argument("--train-epochs", type=int, help="backbone pre-training epochs (dynamic suite)")
    p.add_argument("--threads", type=int, help="torch threads while timing (dynamic suite; default 1)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    for name in ("samples", "seeds", "trials"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    rows = SUITES[args.suite](args)
    print_table(rows)
    path = write_report(args.suite, rows, args.out or f"reports/bench/{args.suite}.json")
    print(f"wrote {path}")
    return 0
