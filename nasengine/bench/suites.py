"""Bench reports (``write_report``: rows next to the machine and library versions) and the
``cost`` suite.

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
from typing import Any

import torch

from nasengine.bench.base import BenchSuite
from nasengine.records import BenchReport
from nasengine.registry import get_space
from nasengine.utils.files import jsonable


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


def write_report(name: str, rows: list[dict[str, Any]], out: str | Path, *, command: str | None = None) -> Path:
    """Write suite ``name``'s ``rows`` with the date, this machine and the ``command`` that
    produced them (a ``BenchReport``)."""
    report = BenchReport(suite=name, date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         machine=machine_info(), rows=tuple(jsonable(rows)), command=command)
    return report.save(out)


# Configurations timed by ``bench cost``: the published settings and small ones.
COST_CASES: list[tuple[str, dict[str, Any]]] = [
    ("shufflenet", {}),
    ("shufflenet", {"channel_search": True}),
    ("nas_cell", {"cells_per_stage": 4, "filters": 44, "stem": "imagenet", "input_size": 224, "num_classes": 1000}),
    ("channel_width", {"backbone": "mobilenet_v2"}),
    ("layers", {"layers": 24, "filters": [96]}),
    ("channel_width", {"backbone": "resnet50"}),
]


def bench_cost(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Architectures per second of ``space.cost`` (after the one-off table build)."""
    n = args.samples
    if n < 1:
        raise ValueError(f"--samples must be >= 1, got {n}")
    rows = []
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


def _cost_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", type=int, default=20000, help="architectures per space")


COST = BenchSuite(help="architectures per second of the analytic cost model", add_arguments=_cost_arguments,
                  run=bench_cost)
