from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from nasengine.bench.compress_measures import measured_speedups, plain_backbone, reconstruction_errors
from nasengine.cli.main import main
from nasengine.compress.graph import prunable_layers


@pytest.mark.slow  # about 20 s: trains and compresses a small ResNet on digits
def test_bench_compress_rows_on_a_tiny_config(tmp_path, capsys):
    out, runs = tmp_path / "compress.json", tmp_path / "runs"
    argv = ["bench", "compress", "--backbones", "resnet", "--width-mult", "0.25", "--ratios", "4", "--seeds", "1",
            "--train-epochs", "1", "--finetune-epochs", "1", "--amc-episodes", "2", "--calibration-images", "64",
            "--repeats", "2", "--runs", str(runs), "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["suite"] == "compress" and report["command"].startswith("nasengine bench compress")
    rows = report["rows"]
    assert [(r["ratio"], r["method"]) for r in rows] == [(k, m) for k in (4,) for m in ("uniform", "l1", "lasso", "amc")]
    for row in rows:
        assert row["seeds"] == 1 and row["backbone"] == "resnet"
        # the limit is source MACs / ratio: never above it, and the one-ratio methods land close
        assert row["mac_reduction"] >= row["ratio"] * 0.999
        if row["method"] != "amc":
            assert row["mac_reduction"] < row["ratio"] * 1.3
        for key in ("acc_pruned", "acc_recalibrated", "acc_finetuned", "source_acc"):
            assert 0 <= row[key] <= 1
        assert row["speedup_b1"] > 0 and row["speedup_b64"] > 0
        assert row["efficiency_b64"] == pytest.approx(row["speedup_b64"] / row["mac_reduction"], abs=0.01)
        assert (row["recon_error"] is not None) == (row["method"] in ("l1", "lasso"))
        assert (row["meets_accuracy_goal"] is not None) == (row["method"] in ("amc", "lasso"))
    uniform = {r["ratio"]: r["acc_pruned"] for r in rows if r["method"] == "uniform"}
    for row in rows:
        assert row["vs_uniform"] == pytest.approx(row["acc_pruned"] - uniform[row["ratio"]], abs=1e-4)
    # a rerun reads the records back instead of measuring again
    records = (runs / "records.jsonl").read_text()
    assert main(argv) == 0
    assert (runs / "records.jsonl").read_text() == records
    # under other settings the folder's records are not mixed in: one line, exit 2
    assert main([*argv, "--finetune-epochs", "2"]) == 2
    assert "finetune_epochs 1 -> 2" in capsys.readouterr().err
    assert (runs / "records.jsonl").read_text() == records
    assert json.loads(out.read_text())["rows"] == rows
    capsys.readouterr()


@pytest.mark.parametrize("option,value,message", [
    ("--ratios", "1,2", "--ratios: expected comma-separated integers >= 2"),
    ("--methods", "l1,foo", "--methods: unknown value(s) ['foo']; choose from uniform, l1, lasso, amc"),
    ("--backbones", "mobilenet", "--backbones: unknown value(s) ['mobilenet']; choose from vgg, resnet"),
    ("--seeds", "0", "--seeds must be >= 1, got 0"),
    ("--amc-lbound", "0", "--amc-lbound must be in (0, 1], got 0.0"),
    ("--train-lr", "0", "--train-lr must be > 0, got 0.0"),
])
def test_bench_compress_bad_input_is_one_line(tmp_path, capsys, option, value, message):
    assert main(["bench", "compress", option, value, "--runs", str(tmp_path), "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "records.jsonl").exists()


def test_least_squares_reconstruction_beats_magnitude_selection():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
                        nn.Conv2d(12, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
                        nn.Conv2d(12, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    calibration = list(torch.randn(128, 3, 8, 8).split(32))
    held_out = torch.randn(32, 3, 8, 8)
    layers = prunable_layers(net, calibration[0][:2])
    errors = reconstruction_errors(net, calibration[0][:2], layers, 0.5, calibration, held_out)
    assert set(errors) == {"0", "3", "6"}  # each has a consumer: the next conv, the classifier
    for name, e in errors.items():
        assert 0 < e["lasso"] <= e["l1"], (name, e)


def test_speedups_time_the_source_against_each_network():
    torch.manual_seed(0)
    source = plain_backbone("vgg", 0.25).eval()
    same = measured_speedups(source, {"copy": source}, torch.randn(64, 3, 32, 32), (1,), repeats=3)
    # times are not asserted (a loaded machine makes any tolerance flaky): one finite ratio per batch
    assert list(same) == ["copy"] and list(same["copy"]) == [1] and 0 < same["copy"][1] < float("inf")
    with pytest.raises(ValueError, match="need at least 64 images"):
        measured_speedups(source, {"copy": source}, torch.randn(8, 3, 32, 32), (64,), repeats=1)
