"""The report says what each run was: what scored its trials, where its search time went,
the found architectures' choices, every rank-check figure, distinguishable limit lines, a
simple baseline with confidence intervals, and accuracies in one unit (percent)."""

from __future__ import annotations

import dataclasses
import re

import matplotlib.pyplot as plt
import optuna
import pytest
from matplotlib.ticker import PercentFormatter
from scipy import stats

from nasengine.arch import choices_line
from nasengine.data import load_dataset
from nasengine.records import RankCheck
from nasengine.registry import get_space
from nasengine.report import figures as plots
from nasengine.report import simple as simple_module
from nasengine.report.document import pct, rankcheck_table, report_blocks, to_markdown
from nasengine.report.runs import load_run, scored_by, search_limits, search_time
from nasengine.report.simple import logistic_baseline
from nasengine.report.stats import accuracy_interval, t_interval, wilson_interval
from nasengine.search import runner
from nasengine.search.config import SearchConfig
from nasengine.search.results import summarize
from tests.report.synthetic import context, rank_check, two_runs, write_run


def _table(blocks: list[tuple], header: str) -> tuple[list[str], list[list[str]]]:
    """The one table with a column named ``header``."""
    [table] = [b for b in blocks if b[0] == "table" and header in b[1]]
    return table[1], table[2]


def _column(blocks: list[tuple], header: str) -> list[str]:
    headers, rows = _table(blocks, header)
    return [row[headers.index(header)] for row in rows]


def test_one_shot_runs_are_labelled_by_what_scored_them(tmp_path):
    evo, spos = two_runs(tmp_path)
    assert scored_by(evo) == "3-epoch proxy training"
    assert scored_by(spos) == "inherited supernet weights, BN recalibrated"
    enas = load_run(write_run(tmp_path / "enas", strategy="enas", evaluator="enas"))
    assert "epoch" not in scored_by(enas) and "shared ENAS weights" in scored_by(enas)
    blocks = report_blocks(context([evo, spos]), [])
    assert _column(blocks, "scored by") == ["3-epoch proxy training", "inherited supernet weights, BN recalibrated"]
    assert "epoch proxy" not in to_markdown(blocks).split("## Searches")[1].split("| spos |")[1].split("\n")[0]


def test_search_time_is_pretraining_plus_trials(tmp_path):
    evo, spos = two_runs(tmp_path)
    assert search_time(spos).pretrain == 100.0 and search_time(spos).trials == 6.0 and search_time(spos).total == 106.0
    assert search_time(evo).pretrain == 0.0 and search_time(evo).total == 6.0  # evolution has no pretraining step
    blocks = report_blocks(context([evo, spos]), [])
    assert _column(blocks, "pretraining") == ["0 s", "100 s"]
    assert _column(blocks, "search time") == ["6 s", "106 s"]
    # A one-shot result.json from before the time was recorded: unknown, not 0.
    old = load_run(write_run(tmp_path / "old", strategy="spos", evaluator="supernet"))
    assert search_time(old).pretrain is None and search_time(old).total is None
    assert _column(report_blocks(context([old]), []), "pretraining") == ["not recorded"]


def test_the_search_records_its_pretraining_time(monkeypatch):
    study = optuna.create_study()
    ticks = iter([0.0, 30.0, 100.0, 105.0])  # two pretraining calls: 30 s, then a 5 s resume
    monkeypatch.setattr(runner.time, "perf_counter", lambda: next(ticks))
    monkeypatch.setattr(runner, "run_pretrain", lambda *a, **k: {"checkpoint": "supernet.pt"})
    for _ in range(2):
        assert runner._timed_pretrain(SearchConfig(), None, None, study, progress=False) == {"checkpoint": "supernet.pt"}
    assert study.user_attrs["pretrain_seconds"] == 35.0
    cfg = SearchConfig(space="shufflenet", space_config={"input_size": 8, "num_classes": 10, "in_channels": 1})
    space = get_space(cfg.space, **cfg.space_config)
    assert summarize(cfg, space, study).pretrain_seconds == 35.0
    assert summarize(cfg, space, optuna.create_study()).to_dict().get("pretrain_seconds") is None


def test_found_architectures_show_their_choices(tmp_path):
    md = to_markdown(report_blocks(context(two_runs(tmp_path)), []))
    assert "| shufflenet arch00000002 | `block0=k5 block1=k5 block2=k3` |" in md
    assert choices_line({"stem": 0.375, "block0": "k3", "widths": [1.0, 0.5]}) == "stem=0.375 block0=k3 widths=[1,0.5]"


def test_every_rank_check_figure_is_shown(tmp_path):
    evo, spos = two_runs(tmp_path)
    headers, [row] = rankcheck_table([(spos, spos.result.rankcheck)])
    fields = [f.name for f in dataclasses.fields(RankCheck) if f.name != "rows"]
    assert len(headers) == len(fields) + 1  # the run label, then one column per recorded figure
    cells = dict(zip(headers, row))
    assert (cells["Kendall tau"], cells["Spearman rho"], cells["seed-to-seed tau"]) == ("0.333", "0.500", "0.750")
    assert (cells["archs"], cells["standalone epochs"], cells["standalone seeds"], cells["check time"]) == (
        "3", "4", "2", "42 s")
    assert cells["run folder"] == "runs/spos" and cells["command"].startswith("`nasengine rankcheck")
    headers, [row] = rankcheck_table([(spos, rank_check(seeds=1))])
    assert dict(zip(headers, row))["seed-to-seed tau"] == "— (one seed)"


def test_limit_lines_are_told_apart(tmp_path):
    runs = [load_run(write_run(tmp_path / "a", strategy="evolution", evaluator="train", max_macs=40_000,
                               max_latency_ms=12.0)),
            load_run(write_run(tmp_path / "b", strategy="evolution", evaluator="train", max_macs=30_000))]
    limits = search_limits(runs)
    assert [(x.key, x.label) for x in limits] == [("macs", "MACs limit 30K"), ("macs", "MACs limit 40K"),
                                                  ("latency_ms", "latency limit 12 ms")]
    fig, ax = plt.subplots()
    plots.draw_limits(ax, [plots.LimitLine(x.value, x.label, i) for i, x in enumerate(limits)])
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [x.label for x in limits]  # each named in the legend
    assert len({(line.get_color(), line.get_linestyle()) for line in lines}) == len(lines) == 3
    plt.close(fig)


def test_intervals_match_their_definitions():
    values = [0.95, 0.96, 0.98]
    mean, sem = sum(values) / 3, stats.sem(values)
    assert t_interval(values) == pytest.approx(stats.t.interval(0.95, 2, loc=mean, scale=sem))
    # Wilson 95% for 90 of 100 correct (Newcombe 1998, table I): 0.8256 .. 0.9448.
    assert wilson_interval(0.9, 100) == pytest.approx((0.8256, 0.9448), abs=1e-4)
    assert wilson_interval(1.0, 360)[1] == pytest.approx(1.0) and wilson_interval(1.0, 360)[0] < 0.995
    assert accuracy_interval([0.9], 100) == wilson_interval(0.9, 100)  # one seed: Wilson over the images
    assert accuracy_interval(values, 360) == t_interval(values) and accuracy_interval([0.9], None) is None


def test_tables_hold_the_simple_baseline_and_intervals(tmp_path):
    blocks = report_blocks(context(two_runs(tmp_path)), [])
    headers, rows = _table(blocks, "test 95% CI")
    assert "val 95% CI" in headers
    by_name = {row[0]: dict(zip(headers, row)) for row in rows}
    lo, hi = t_interval([0.95, 0.96, 0.97])
    assert by_name["shufflenet arch00000002"]["val 95% CI"] == f"{pct(lo)} – {pct(hi)}"
    lo, hi = wilson_interval(0.9611, 360)
    assert by_name["logistic regression (raw pixels)"]["test 95% CI"] == f"{pct(lo)} – {pct(hi)}"
    single = report_blocks(context(two_runs(tmp_path / "one"), seeds=1), [])
    headers, rows = _table(single, "test 95% CI")
    lo, hi = wilson_interval(0.95, 360)
    assert rows[0][headers.index("test 95% CI")] == f"{pct(lo)} – {pct(hi)}"


def test_logistic_regression_baseline_is_fitted_on_the_split_and_cached(tmp_path, monkeypatch):
    data = load_dataset("digits")
    first = logistic_baseline(data, tmp_path)
    assert first.n_test == len(data.test) and first.n_val == len(data.val)  # type: ignore[arg-type]
    assert 0.9 < first.test_acc <= 1.0 and first.macs == 64 * 10 and first.input_shape == (1, 8, 8)
    monkeypatch.setattr(simple_module, "_fit", lambda data: pytest.fail("a cached baseline was refitted"))
    assert logistic_baseline(data, tmp_path) == first


def test_accuracies_are_percent_in_every_table(tmp_path):
    blocks = report_blocks(context(two_runs(tmp_path)), [])
    for header in ("test 95% CI", "scored by"):  # the retrained networks, the searches
        headers, rows = _table(blocks, header)
        for name in (h for h in headers if "acc" in h or "CI" in h):
            for row in rows:
                cell = row[headers.index(name)]
                assert cell == "—" or re.fullmatch(r"[\d.]+%( (±|–) [\d.]+%)?", cell), (name, cell)


def test_accuracy_axes_are_percent_in_every_figure(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.append(fig) or path)
    series = {"label": "r", "color": "C0", "points": [(1e4, 0.9), (2e4, 0.95)], "front": [(1e4, 0.9), (2e4, 0.95)]}
    retrained = [{"label": "m", "x": 1e4, "mean": 0.9, "std": 0.01, "baseline": False, "color": "C0"}]
    plots.pareto_figure(tmp_path / "p.png", runs=[series], retrained=retrained, retrained_front=[], xlabel="MACs",
                        title="t", search_note="n", retrain_note="n")
    plots.progress_figure(tmp_path / "g.png", [{"label": "r", "color": "C0", "trials": [(0, 0.9)], "best": [(0, 0.9)]}])
    plots.reward_figure(tmp_path / "w.png", [{"label": "r", "color": "C0",
                                              "log": [{"trial": 0, "reward": 0.9, "baseline": 0.85}]}])
    plots.rankcheck_figure(tmp_path / "k.png", "r", rank_check())
    accuracy_axes = [ax for fig in saved for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(accuracy_axes) == 5
    assert all(isinstance(ax.yaxis.get_major_formatter(), PercentFormatter) for ax in accuracy_axes)
    rank_ax = saved[-1].axes[0]
    assert isinstance(rank_ax.xaxis.get_major_formatter(), PercentFormatter)  # one-shot score: an accuracy too
    for fig in saved:
        plt.close(fig)
