from __future__ import annotations

import json

from nasengine.cli.main import main
from tests.search_helpers import synthetic_table


def test_bench_controllers_reports_regret_curves(tmp_path, capsys):
    table = synthetic_table(tmp_path / "table.json")
    out = tmp_path / "controllers.json"
    code = main(["bench", "controllers", "--table", str(table), "--controllers", "random,evolution",
                 "--seeds", "3", "--trials", "40", "--out", str(out)])
    assert code == 0
    rows = {r["controller"]: r for r in json.loads(out.read_text())["rows"]}
    for row in rows.values():
        curve = row["curve"]
        assert len(curve) == 40 and all(a >= b >= 0 for a, b in zip(curve, curve[1:]))  # regret never rises
        assert [k for k in row if k.startswith("regret@")] == ["regret@10", "regret@20", "regret@30"]
        # the curve is the mean over seeds: it ends at zero exactly when every seed found the optimum
        assert (row["found_optimum"] == row["seeds"] == 3) == (curve[-1] == 0)
    assert rows["evolution"]["mean_regret"] < rows["random"]["mean_regret"]
    assert "curve" not in capsys.readouterr().out.splitlines()[0]


def test_bench_controllers_needs_a_table(tmp_path, capsys):
    assert main(["bench", "controllers", "--table", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_controllers_replays_a_table_made_under_a_limit_and_refuses_a_sampled_one(tmp_path, capsys):
    table = synthetic_table(tmp_path / "table.json")
    doc = json.loads(table.read_text())
    limit = sorted(e["macs"] for e in doc["entries"])[len(doc["entries"]) // 2]
    limited = tmp_path / "limited.json"
    limited.write_text(json.dumps({**doc, "selection": {"samples": None, "max_macs": limit},
                                   "entries": [e for e in doc["entries"] if e["macs"] <= limit]}))
    out = tmp_path / "controllers.json"
    assert main(["bench", "controllers", "--table", str(limited), "--controllers", "random,evolution",
                 "--seeds", "2", "--trials", "15", "--out", str(out)]) == 0
    assert all(r["curve"][-1] >= 0 for r in json.loads(out.read_text())["rows"])
    sampled = tmp_path / "sampled.json"
    sampled.write_text(json.dumps({**doc, "selection": {"samples": 5, "max_macs": None}, "entries": doc["entries"][:5]}))
    capsys.readouterr()
    assert main(["bench", "controllers", "--table", str(sampled), "--out", str(tmp_path / "c2.json")]) == 2
    err = capsys.readouterr().err
    assert "5 sampled archs" in err and "Traceback" not in err
