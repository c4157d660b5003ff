"""The file records: written and read by one definition, validated on read."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from nasengine.records import (
    BenchReport,
    ExportRecord,
    LatencyCheck,
    LatencyCheckRow,
    ParityInputs,
    ParityRecord,
    RankCheck,
    RankCheckRow,
    SearchResult,
    StandaloneAcc,
    TrialRecord,
)
from nasengine.search.rankcheck import summarize_check

BENCH = Path(__file__).resolve().parents[2] / "reports" / "bench"

TRIAL = TrialRecord(3, "COMPLETE", "abc", {"block0": 1}, {"macs": 1000, "params": 20}, {"acc": 0.5}, (0.5,), 1.5,
                    "2026-01-01T00:00:00")
CHECK = RankCheck(2, 1, 0, 2, "supernet", 1.0, 1.0, None, 3.0,
                  (RankCheckRow("a", 10, 0.1, 0.2, (0.2, 0.2)), RankCheckRow("b", 20, 0.3, 0.4, (0.3, 0.5))))
RECORDS = [
    TRIAL,
    SearchResult("shufflenet", {"input_size": 8}, None, "random", "train", ("acc",), {"max_macs": None}, 1, TRIAL,
                 {"acc_vs_macs": (TRIAL,), "acc_vs_params": (TRIAL,)}, (TRIAL,), CHECK),
    StandaloneAcc("a", 1, 0, 0.25),
    ExportRecord("shufflenet", {}, {"block0": 1}, "abc", {"macs": 1}, {"val_acc": 0.5}, 3, ("pt2",)),
    ParityRecord("abc", ParityInputs((2, 1, 8, 8), 0, "float32"), 1e-4, {"pt2": 0.0}, True, "2.0", ("note",)),
    LatencyCheck(2, 0, 0.1, 0.2, 0.1, 1.0, 1.0, (LatencyCheckRow("a", 1.0, 1.1), LatencyCheckRow("b", 2.0, 2.1)),
                 "t.json", {"device": "cpu"}, {"cpu_count": 2}),
    BenchReport("cost", "2026-01-01", {"cpu_count": 2}, ({"space": "shufflenet", "archs_per_s": 1.0},)),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_round_trip_through_their_files(record, tmp_path):
    path = record.save(tmp_path / "r.json")
    again = type(record).load(path)
    assert json.dumps(again.to_dict()) == json.dumps(record.to_dict())  # NaN-safe equality
    assert json.loads(path.read_text()) == json.loads(json.dumps(record.to_dict()))


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("kendall_tau"), "bad key 'kendall_tau': missing"),
    (lambda d: d.update(tau=0.5), "bad key 'tau': not a RankCheck key"),
    (lambda d: d.update(samples="2"), "bad key 'samples': expected int, got \"2\""),
    (lambda d: d.update(samples=True), "bad key 'samples': expected int, got true"),
    (lambda d: d["rows"][1].update(oneshot_acc=None), "bad key 'rows[1].oneshot_acc': expected float, got null"),
    (lambda d: d.update(rows={}), "bad key 'rows': expected a list"),
    (lambda d: d.update(samples=3), "bad key '(top level)': samples is 3 but there are 2 rows"),
])
def test_a_bad_file_is_one_line_naming_file_and_key(change, message, tmp_path):
    data = CHECK.to_dict()
    change(data)
    path = tmp_path / "rankcheck.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as err:
        RankCheck.load(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)


def test_missing_and_broken_files_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        SearchResult.load(tmp_path / "result.json")
    (tmp_path / "result.json").write_text("{")
    with pytest.raises(ValueError, match="result.json: invalid JSON"):
        SearchResult.load(tmp_path / "result.json")


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.json")), ids=lambda p: p.name)
def test_committed_bench_reports_read(path):
    report = BenchReport.load(path)
    suite = report.suite.replace("-", "_")  # bench compress-latency writes compress_latency.json
    assert (path.stem == suite or path.stem.startswith(f"{suite}_")) and report.rows


def test_committed_rank_check_reads_and_its_figures_follow_from_its_rows():
    [row] = BenchReport.load(BENCH / "rankcheck.json").rows
    check = RankCheck.from_dict({k: v for k, v in row.items() if k != "note"}, "rankcheck.json")
    assert (check.samples, round(check.kendall_tau, 3), round(check.spearman_rho, 3)) == (30, 0.368, 0.472)
    again = summarize_check(check.rows, epochs=check.epochs, seed=check.seed, seeds=check.seeds,
                            evaluator=check.evaluator, seconds=check.seconds)
    # Recomputed from the rows: the same correlations up to float rounding, everything else equal.
    assert again.kendall_tau == pytest.approx(check.kendall_tau, abs=1e-12)
    assert again.spearman_rho == pytest.approx(check.spearman_rho, abs=1e-12)
    assert replace(again, kendall_tau=check.kendall_tau, spearman_rho=check.spearman_rho, run=check.run,
                   command=check.command) == check


def test_bench_reports_keep_the_command_that_wrote_them(tmp_path):
    from nasengine.cli.main import main

    out = tmp_path / "cost.json"
    assert main(["bench", "cost", "--samples", "1", "--out", str(out)]) == 0
    assert BenchReport.load(out).command == f"nasengine bench cost --samples 1 --out {out}"


def test_an_undefined_statistic_is_written_as_null_and_read_back_as_none(tmp_path):
    check = replace(CHECK, kendall_tau=math.nan, seed_to_seed_tau=math.nan)
    path = check.save(tmp_path / "rankcheck.json")
    assert "NaN" not in path.read_text()
    again = RankCheck.load(path)
    assert again.kendall_tau is None and again.seed_to_seed_tau is None and again.spearman_rho == 1.0


def test_nan_in_a_file_is_refused_with_the_file_name(tmp_path):
    path = tmp_path / "rankcheck.json"
    path.write_text(json.dumps({**CHECK.to_dict(), "spearman_rho": math.nan}))
    with pytest.raises(ValueError, match="NaN is not a JSON number") as err:
        RankCheck.load(path)
    assert str(err.value).startswith(f"{path}: ")
