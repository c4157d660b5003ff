from __future__ import annotations

import json

import pytest

from nasengine.cli.main import main


@pytest.mark.slow  # about 30 s: trains a VGG on digits for one epoch, times its table, compresses it twice
def test_bench_compress_latency_rows_on_a_tiny_config(tmp_path, capsys):
    out = tmp_path / "latency.json"
    argv = ["bench", "compress-latency", "--methods", "uniform,amc", "--max-latency", "70%", "--train-epochs", "1",
            "--amc-episodes", "2", "--calibration-images", "32", "--warmup", "1", "--repeats", "3",
            "--clock", "thread", "--runs", str(tmp_path / "runs"), "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["suite"] == "compress-latency" and report["command"].startswith("nasengine bench compress-latency")
    rows = report["rows"]
    assert [r["method"] for r in rows] == ["uniform", "amc"]
    for row in rows:
        assert row["limit_ms"] == pytest.approx(0.7 * row["source_predicted_ms"], rel=1e-3)
        assert row["predicted_ms"] <= row["limit_ms"] + 1e-4 and row["measured_ms"] > 0
        assert row["mac_reduction"] > 1
        for key in ("acc_pruned", "acc_finetuned", "source_acc"):
            assert 0 <= row[key] <= 1
    capsys.readouterr()


@pytest.mark.parametrize("option,value,message", [
    ("--max-latency", "150%", "relative limit must be in"),
    ("--max-latency", "soon", "is not a limit"),
    ("--methods", "l1,foo", "--methods: unknown value(s) ['foo']"),
    ("--seeds", "0", "--seeds must be >= 1, got 0"),
])
def test_bench_compress_latency_bad_input_is_one_line(tmp_path, capsys, option, value, message):
    argv = ["bench", "compress-latency", option, value, "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "c.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
