from __future__ import annotations

import json

import pytest

from nasengine.cli.main import main


def test_bench_cost_writes_machine_and_rates(tmp_path, capsys):
    out = tmp_path / "cost.json"
    assert main(["bench", "cost", "--samples", "200", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["suite"] == "cost" and report["machine"]["torch"] and report["machine"]["cpu_count"] >= 1
    spaces = {row["space"] for row in report["rows"]}
    assert spaces == {"shufflenet", "nas_cell", "channel_width", "layers"}
    assert all(row["archs_per_s"] > 0 and row["archs"] == 200 for row in report["rows"])
    assert "archs_per_s" in capsys.readouterr().out


def test_bench_rejects_bad_sample_count(tmp_path, capsys):
    assert main(["bench", "cost", "--samples", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert "--samples must be >= 1" in capsys.readouterr().err


def test_each_suite_is_a_subcommand_with_its_own_options(capsys):
    from nasengine.bench.base import BENCH_SUITES

    assert {"cost", "controllers", "dynamic", "kernels"} <= set(BENCH_SUITES.names())
    with pytest.raises(SystemExit):  # --trials belongs to the controllers suite, not to cost
        main(["bench", "cost", "--trials", "3"])
    assert "unrecognized arguments: --trials" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "cost", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--samples" in help_text and "--seeds" not in help_text
    assert "bench-cost.json" in help_text  # the default report path is spelled out


def test_a_registered_suite_gets_a_subcommand(tmp_path, capsys):
    from nasengine.bench.base import BENCH_SUITES, BenchSuite

    def add_arguments(p):
        p.add_argument("--size", type=int, default=3)

    suite = BenchSuite(help="counts to --size", add_arguments=add_arguments,
                       run=lambda args: [{"i": i} for i in range(args.size)])
    BENCH_SUITES.register("count_test", suite)
    try:
        out = tmp_path / "count.json"
        assert main(["bench", "count_test", "--size", "2", "--out", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["suite"] == "count_test" and report["rows"] == [{"i": 0}, {"i": 1}]
        assert f"wrote {out.resolve()}" in capsys.readouterr().out
    finally:
        del BENCH_SUITES._objects["count_test"]


def test_a_broken_suite_plug_in_fails_alone(tmp_path, capsys, monkeypatch):
    from importlib.metadata import EntryPoint

    from nasengine.bench.base import BENCH_SUITES

    broken = EntryPoint(name="broken_test", value="no_such_module_xyz:SUITE", group="nasengine.bench")
    monkeypatch.setattr(BENCH_SUITES, "_entry_points", {**BENCH_SUITES._scan(), "broken_test": broken})
    assert main(["bench", "cost", "--samples", "5", "--out", str(tmp_path / "c.json")]) == 0
    capsys.readouterr()
    assert main(["bench", "broken_test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nasengine: error: bench suite 'broken_test'") and "failed to load" in err
    assert err.count("\n") == 1


def test_without_out_a_report_goes_to_the_current_directory_not_reports(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "cost", "--samples", "1", "--threads", "1"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["bench-cost.json"]  # no reports/bench/ made here
    assert json.loads((tmp_path / "bench-cost.json").read_text())["machine"]["torch_threads"] == 1
    assert str(tmp_path / "bench-cost.json") in capsys.readouterr().out
    assert main(["bench", "cost", "--samples", "1", "--threads", "0"]) == 2
    assert "--threads must be an integer >= 1, got 0" in capsys.readouterr().err
