from __future__ import annotations

import json

import pytest

from nasengine.cli.main import main

TINY = ["--image-size", "8", "--widths", "8,16", "--depths", "2,2", "--epochs", "1", "--nested-epochs", "1",
        "--policy-epochs", "1", "--finetune-epochs", "1", "--rounds", "1", "--relaxed-epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_runs")
    for method in ("rnp", "skipnet"):
        assert main(["dynamic", "train", "--method", method, *TINY, "--out", str(root / method)]) == 0
    return root


def test_bench_times_given_runs_and_writes_rows(runs, tmp_path):
    out = tmp_path / "dynamic.json"
    argv = ["bench", "dynamic", "--dynamic-run", str(runs / "rnp"), "--dynamic-run", str(runs / "skipnet"),
            "--repeats", "1", "--threads", "1", "--device", "cpu", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert {(r["method"], r["batch"]) for r in rows} == {("rnp", 1), ("rnp", 64), ("skipnet", 1), ("skipnet", 64)}
    for row in rows:
        assert row["device"] == "cpu" and row["threads"] == 1
        assert row["dense_ms"] > 0 and row["dynamic_ms"] > 0
        assert row["goal"] == {1: 0.8, 64: 0.7}[row["batch"]]
        assert row["dense_layout"] in ("nchw", "nhwc") and row["dense_ms"] <= row["dense_nchw_ms"]
        # each method reports how much of its network it ran: RNP its groups, SkipNet its skips
        usage = "groups_computed" if row["method"] == "rnp" else "blocks_skipped"
        assert usage in row and "distinct_routes" in row
    metrics = json.loads((runs / "rnp" / "metrics.json").read_text())
    rnp_row = next(r for r in rows if r["method"] == "rnp")
    assert rnp_row["acc"] == pytest.approx(metrics["test_acc"], abs=1e-4)
    assert rnp_row["dense_acc"] == pytest.approx(metrics["dense_test_acc"], abs=1e-4)


def test_bench_rejects_unknown_methods(tmp_path, capsys):
    assert main(["bench", "dynamic", "--methods", "rnp,dropout", "--out", str(tmp_path / "x.json")]) == 2
    assert "unknown method" in capsys.readouterr().err
