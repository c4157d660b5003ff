from __future__ import annotations

import json
import statistics

import pytest

from nasengine.bench.task import task_figures
from nasengine.cli.main import main


def _entries(accs: list[tuple[float, float]]) -> list[dict]:
    return [{"id": str(i), "accs": list(a), "acc": sum(a) / 2, "macs": 1000 * (i + 1)} for i, a in enumerate(accs)]


def test_task_figures_measure_spread_against_seed_noise():
    # three archs far apart, each with seeds 0.02 apart: a task that separates them
    figures = task_figures(_entries([(0.50, 0.52), (0.70, 0.72), (0.90, 0.88)]))
    assert figures["archs"] == 3 and figures["seeds"] == 2
    assert figures["spread"] == pytest.approx(statistics.pstdev([0.51, 0.71, 0.89]), abs=1e-5)
    assert figures["seed_std"] == pytest.approx(0.02 / 2 ** 0.5, abs=1e-5)
    assert figures["seed_tau"] == 1.0 and figures["spread_ratio"] > 10
    # seeds that disagree on the order: negative tau, ratio below 1
    noisy = task_figures(_entries([(0.60, 0.80), (0.80, 0.60), (0.70, 0.69)]))
    assert noisy["seed_tau"] < 0 and noisy["spread_ratio"] < 1


def test_task_figures_need_two_seeds():
    with pytest.raises(ValueError, match=">= 2 seeds"):
        task_figures([{"id": "a", "acc": 0.5, "accs": [0.5], "macs": 1}] * 5)


def test_bench_task_cli_writes_targets(tmp_path, capsys):
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"space": "toy", "config": {}, "train": {"dataset": "digits", "epochs": 1},
                                 "entries": _entries([(0.5, 0.52), (0.7, 0.72), (0.9, 0.88), (0.6, 0.61)])}))
    out = tmp_path / "task.json"
    assert main(["bench", "task", "--table", str(table), "--out", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["meets_targets"] is True and row["archs"] == 4 and row["dataset"] == "digits"
    assert main(["bench", "task", "--table", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_task_max_macs_keeps_the_archs_a_search_chooses_among(tmp_path):
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"space": "toy", "config": {}, "train": {"dataset": "digits", "epochs": 1},
                                 "entries": _entries([(0.5, 0.52), (0.7, 0.72), (0.9, 0.88), (0.6, 0.61)])}))
    out = tmp_path / "task.json"
    assert main(["bench", "task", "--table", str(table), "--max-macs", "3K", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["archs"] == 3 and row["macs_max"] == 3000 and row["max_macs"] == 3000
