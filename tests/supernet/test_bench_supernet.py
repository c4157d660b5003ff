from __future__ import annotations

import json

from nasengine.bench import supernet as bench_supernet
from nasengine.cli.main import main
from tests.supernet.oneshot_helpers import TINY, TINY_CELL


def test_bench_supernet_reports_the_step_ratio(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_supernet, "CASES", [("tiny", "shufflenet", TINY, 16), ("cell", "nas_cell", TINY_CELL, 8)])
    out = tmp_path / "supernet.json"
    assert main(["bench", "supernet", "--archs", "2", "--repeats", "3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["suite"] == "supernet" and [r["case"] for r in report["rows"]] == ["tiny", "cell"]
    for row in report["rows"]:
        assert row["supernet_ms"] > 0 and row["standalone_ms"] > 0 and len(row["per_arch_ratio"]) == 2
        assert 0.2 < row["median_ratio"] < 5  # a sanity range; the target is measured by the bench itself
    assert "median_ratio" in capsys.readouterr().out


def test_bench_supernet_rejects_bad_counts(tmp_path, capsys):
    assert main(["bench", "supernet", "--archs", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert "--archs and --repeats must be >= 1" in capsys.readouterr().err
