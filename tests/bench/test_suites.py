from __future__ import annotations

import json

from nasengine.cli.main import main


def test_bench_cost_writes_machine_and_rates(tmp_path, capsys):
    out = tmp_path / "cost.json"
    assert main(["bench", "cost", "--samples", "200", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["suite"] == "cost" and report["machine"]["torch"] and report["machine"]["cpu_count"] >= 1
    spaces = {row["space"] for row in report["rows"]}
    assert spaces == {"shufflenet", "nas_cell", "channel_width"}
    assert all(row["archs_per_s"] > 0 and row["archs"] == 200 for row in report["rows"])
    assert "archs_per_s" in capsys.readouterr().out


def test_bench_rejects_bad_sample_count(tmp_path, capsys):
    assert main(["bench", "cost", "--samples", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert "--samples must be >= 1" in capsys.readouterr().err
