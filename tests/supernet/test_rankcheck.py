from __future__ import annotations

import os
import shlex

import pytest
from scipy import stats

from nasengine.cli.main import main
from nasengine.evaluators.train import TrainEvaluator
from nasengine.records import BenchReport, RankCheck
from nasengine.report import ReportConfig, make_report
from nasengine.report.baselines import RetrainConfig
from nasengine.report.runs import load_run
from tests.supernet.oneshot_helpers import TINY_ARGS


def test_rankcheck_on_a_tiny_spos_run(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert main(["search", "--space", "shufflenet", *TINY_ARGS, "--strategy", "spos", "--pretrain-epochs", "2",
                 "--trials", "3", "--top-k", "1", "--out", str(run), "--quiet"]) == 0
    report = tmp_path / "rankcheck.json"
    argv = ["rankcheck", str(run), "--samples", "4", "--epochs", "1", "--seeds", "2", "--report", str(report),
            "--quiet"]
    assert main(argv) == 0
    check = load_run(run).result.rankcheck  # read as the report reads it
    assert check.samples == 4 and check.epochs == 1 and len({r.arch_id for r in check.rows}) == 4
    for row in check.rows:  # two trainings per architecture, averaged
        assert len(row.standalone_seeds) == 2 and row.standalone_acc == sum(row.standalone_seeds) / 2
    seed_a, seed_b = ([r.standalone_seeds[i] for r in check.rows] for i in (0, 1))
    assert check.seed_to_seed_tau == pytest.approx(stats.kendalltau(seed_a, seed_b).statistic, nan_ok=True)
    x, y = [r.oneshot_acc for r in check.rows], [r.standalone_acc for r in check.rows]
    assert check.kendall_tau == pytest.approx(stats.kendalltau(x, y).statistic)
    assert check.spearman_rho == pytest.approx(stats.spearmanr(x, y).statistic)
    assert RankCheck.load(run / "rankcheck.json") == check
    bench = BenchReport.load(report)
    assert bench.suite == "rankcheck" and bench.rows[0]["run"] == os.path.relpath(run)
    assert bench.command == check.command == shlex.join(["nasengine", *argv])  # the command that made them
    assert RankCheck.from_dict(bench.rows[0]) == check
    assert len(list((run / "rankcheck").glob("*.json"))) == 8
    # The report renders both correlations of the real check, and its figure.
    cfg = ReportConfig(runs=(str(run),), retrain=RetrainConfig(epochs=1, seeds=1, latency_runs=3),
                       out=str(tmp_path / "report"))
    files = make_report(cfg, progress=False)
    md = files["markdown"].read_text()
    assert f"| run | 4 | 1 | 0 | 2 | supernet | {check.kendall_tau:.3f} | {check.spearman_rho:.3f} |" in md
    assert files["rankcheck_0"].stat().st_size > 0
    # Standalone results are cached: a rerun trains nothing and reports the same.
    monkeypatch.setattr(TrainEvaluator, "evaluate", lambda *a: pytest.fail("retrained a cached architecture"))
    assert main(argv) == 0
    assert RankCheck.load(run / "rankcheck.json").kendall_tau == check.kendall_tau


def test_rankcheck_needs_a_one_shot_run(tmp_path, capsys):
    assert main(["rankcheck", str(tmp_path)]) == 2
    assert "not a search run folder" in capsys.readouterr().err
    (tmp_path / "config.yaml").write_text("space: shufflenet\nevaluator: train\n")
    assert main(["rankcheck", str(tmp_path)]) == 2
    assert "not a one-shot method" in capsys.readouterr().err
