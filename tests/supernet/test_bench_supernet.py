from __future__ import annotations

import argparse

import pytest

from nasengine.bench.base import BENCH_SUITES
from supernet import bench_supernet
from tests.supernet.oneshot_helpers import TINY, TINY_CELL


def _args(**given: object) -> argparse.Namespace:
    """The suite's own options, parsed as ``nasengine bench supernet`` would."""
    parser = argparse.ArgumentParser()
    BENCH_SUITES.get("supernet").add_arguments(parser)
    return parser.parse_args([f"--{k}={v}" for k, v in given.items()])


def test_bench_supernet_reports_the_step_ratio(monkeypatch):
    monkeypatch.setattr(bench_supernet, "CASES", [("tiny", "shufflenet", TINY, 16), ("cell", "nas_cell", TINY_CELL, 8)])
    rows = BENCH_SUITES.get("supernet").run(_args(archs=2, repeats=3))
    assert [r["case"] for r in rows] == ["tiny", "cell"]
    for row in rows:
        assert row["supernet_ms"] > 0 and row["standalone_ms"] > 0 and len(row["per_arch_ratio"]) == 2
        assert 0.2 < row["median_ratio"] < 5  # a sanity range; the target is measured by the bench itself


def test_bench_supernet_options_and_defaults():
    args = _args()
    assert (args.archs, args.repeats) == (8, 20)


def test_bench_supernet_rejects_bad_counts():
    with pytest.raises(ValueError, match="--archs and --repeats must be >= 1"):
        BENCH_SUITES.get("supernet").run(_args(archs=0))
