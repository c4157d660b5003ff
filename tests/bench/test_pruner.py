from __future__ import annotations

import json

from nasengine.cli.main import main


def test_bench_pruner_compares_each_pruner_with_none_over_seeds(tmp_path, capsys):
    out, runs = tmp_path / "pruner.json", tmp_path / "runs"
    argv = ["bench", "pruner", "--pruners", "none,median", "--seeds", "2", "--trials", "4", "--epochs", "2",
            "--pruner-set", "n_startup_trials=1", "--pruner-set", "reduction_factor=2", "--runs", str(runs),
            "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["suite"] == "pruner" and report["command"].startswith("nasengine bench pruner")
    rows = {r["pruner"]: r for r in report["rows"]}
    assert set(rows) == {"none", "median"}
    for name, row in rows.items():
        seconds, epochs, pruned, best = [], [], [], []
        for seed in range(2):
            result = json.loads((runs / f"{name}-s{seed}" / "result.json").read_text())
            trials = result["trials"]
            assert len(trials) == 4
            seconds.append(sum(t["seconds"] for t in trials))
            epochs.append(sum(t["epochs"] for t in trials))
            pruned.append(sum(t["state"] == "PRUNED" for t in trials))
            best.append(round(result["best"]["metrics"]["acc"], 4))
        assert row["train_seconds_per_seed"] == [round(s, 1) for s in seconds]
        assert row["epochs_trained"] == sum(epochs) / 2 and row["pruned_per_seed"] == pruned
        assert row["best_acc_per_seed"] == best and abs(row["best_acc"] - sum(best) / 2) < 1e-4
    assert rows["none"]["pruned"] == 0 and rows["none"]["epochs_trained"] == 4 * 2  # every trial trained in full
    assert rows["median"]["pruned"] > 0 and rows["median"]["epochs_trained"] < 8  # seeded: it stops some
    assert rows["none"]["time_saved"] == 0.0
    saved = 1 - rows["median"]["train_seconds"] / rows["none"]["train_seconds"]
    assert abs(rows["median"]["time_saved"] - saved) < 0.01
    # a rerun resumes the finished searches: the same figures
    assert main(argv) == 0
    assert [r["best_acc_per_seed"] for r in json.loads(out.read_text())["rows"]] == [r["best_acc_per_seed"]
                                                                                    for r in report["rows"]]
    capsys.readouterr()
    assert main(["bench", "pruner", "--pruners", "none,asha", "--runs", str(runs), "--out", str(out)]) == 2
    assert "--pruners: unknown pruner(s) ['asha']; choose from none, median, hyperband" in capsys.readouterr().err
