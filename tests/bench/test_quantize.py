"""``nasengine bench quantize`` on a tiny configuration: a quarter-width VGG, one bit width,
two seeds, a few HAQ episodes at equal size and at equal modelled latency."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from nasengine.bench.quantize_hardware import mobile_backbone
from nasengine.cli.main import main
from nasengine.quantize.layers import quantizable_layers
from nasengine.records.bench_quantize import QuantizeClipRow, QuantizeHardwareRow, QuantizePolicyRow, QuantizeSpeedRow
from tests.cli_helpers import run_cli

ARGV = ["bench", "quantize", "--backbones", "vgg", "--bits", "4", "--seeds", "2", "--episodes", "2", "--warmup", "1",
        "--train-epochs", "1", "--width-mult", "0.25", "--repeats", "2", "--hardware-pair", ""]


@pytest.mark.slow  # trains a small network and runs ten quantizations: about 25 s on one core
def test_bench_quantize_compares_haq_with_uniform_at_equal_size(tmp_path, capsys):
    out, runs = tmp_path / "quantize.json", tmp_path / "runs"
    argv = [*ARGV, "--runs", str(runs), "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["suite"] == "quantize" and report["command"].startswith("nasengine bench quantize")
    rows = report["rows"]
    policies = {r["policy"]: r for r in rows if r["kind"] == "policy"}
    uniform, haq = policies["uniform 4"], policies["haq @ size of uniform 4"]
    fast = policies["haq @ modelled bismo latency of uniform 4"]
    assert uniform["seeds"] == haq["seeds"] == fast["seeds"] == 2
    for row in (uniform, haq, fast):
        QuantizePolicyRow.from_dict(row)  # every key typed as the record says
        assert row["acc_before"] == pytest.approx(statistics.fmean(row["acc_before_per_seed"]), abs=1e-4)
        assert row["acc_after_std"] == pytest.approx(statistics.pstdev(row["acc_after_per_seed"]), abs=1e-4)
    # HAQ is held to the uniform policy's exact size; its bits stay in 2..8 with the ends at 8
    assert all(h <= u for h, u in zip(haq["size_bits"], uniform["size_bits"]))
    assert (haq["limit"], fast["limit"], uniform["limit"]) == ("size", "latency", None)
    assert haq["compared_with"] == fast["compared_with"] == "uniform 4"
    assert fast["vs_uniform_after"] == pytest.approx(fast["acc_after"] - uniform["acc_after"], abs=1e-4)
    # and the latency search to its modelled latency, which is the model's MACs x bits x bits
    assert all(f <= u * (1 + 1e-5) for f, u in zip(fast["latency_ms_per_seed"], uniform["latency_ms_per_seed"]))
    assert "modelled" in fast["latency_model"] and "bismo" in fast["latency_model"]
    for bits in haq["bits_per_seed"] + fast["bits_per_seed"]:
        pairs = list(bits.values())
        assert pairs[0] == pairs[-1] == [8, 8] and all(2 <= b <= 8 for pair in pairs for b in pair)
    assert all(list(b.values())[1:-1] == [[4, 4]] * (len(b) - 2) for b in uniform["bits_per_seed"])
    # at equal size only weight bits are searched: activations keep the uniform policy's 4 bits
    assert all(pair[1] == 4 for bits in haq["bits_per_seed"] for pair in list(bits.values())[1:-1])
    # test accuracy is reported next to validation accuracy (which HAQ selects on)
    for row in (uniform, haq, fast):
        assert row["test_before"] == pytest.approx(statistics.fmean(row["test_before_per_seed"]), abs=1e-4)
        assert 0 < row["float_test_acc"] <= 1 and len(row["test_after_per_seed"]) == 2
    assert haq["vs_uniform_test_after"] == pytest.approx(haq["test_after"] - uniform["test_after"], abs=1e-4)
    clips = {r["policy"] for r in rows if r["kind"] == "clip"}
    assert clips == {f"clip {c} {b}" for c in ("kl", "mse", "max") for b in (2, 4)}
    speed = [r for r in rows if r["kind"] == "speed"]
    assert [r["batch"] for r in speed] == [1, 64]
    # The speedup is computed before its times are rounded to 3 decimals: allow that rounding.
    assert all(abs(r["speedup"] - r["fp32_ms"] / r["int8_ms"])
               <= 1e-3 + r["speedup"] * (5e-4 / r["fp32_ms"] + 5e-4 / r["int8_ms"]) for r in speed)
    # a rerun reuses the trained backbone and the finished runs: the same figures
    logs = sorted(runs.glob("records-*.jsonl"))
    searches = [json.loads(line) for line in logs[0].read_text().splitlines() if "/haq" in line]
    assert searches and all(0 <= r["best_episode"] < 2 for r in searches)  # the episode that found the policy
    lines = logs[0].read_text().count("\n")
    assert main(argv) == 0
    assert logs[0].read_text().count("\n") == lines
    again = {r["policy"]: r for r in json.loads(out.read_text())["rows"] if r["kind"] == "policy"}
    assert again["haq @ size of uniform 4"]["acc_after_per_seed"] == haq["acc_after_per_seed"]
    capsys.readouterr()
    # other fine-tuning or search settings would mix into the stored records: refused in one line
    code, _, stderr = run_cli(capsys, *argv, "--episodes", "3")
    assert code == 2 and "episodes" in stderr and len(stderr.strip().splitlines()) == 1


def test_bench_quantize_refuses_unknown_backbones(tmp_path, capsys):
    code, _, stderr = run_cli(capsys, "bench", "quantize", "--backbones", "alexnet", "--runs", str(tmp_path),
                              "--out", str(tmp_path / "q.json"))
    assert code == 2 and "alexnet" in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.slow  # trains two small networks (the depthwise one for 30 epochs): about 30 s on one core
def test_bench_quantize_places_bits_for_an_edge_and_a_cloud_accelerator(tmp_path, capsys):
    argv = [*ARGV[:-2], "--seeds", "1", "--hardware-pair", "bismo-edge,bismo-cloud", "--runs", str(tmp_path / "runs"),
            "--out", str(tmp_path / "q.json")]
    assert main(argv) == 0
    rows = [r for r in json.loads((tmp_path / "q.json").read_text())["rows"] if r["kind"] == "hardware"]
    assert [r["hardware"] for r in rows] == ["bismo-edge", "bismo-cloud"]
    layers = quantizable_layers(mobile_backbone(0.25), torch.zeros(2, 3, 32, 32))
    depthwise = [layer.name for layer in layers if layer.depthwise]
    assert len(depthwise) == 5 and not layers[0].depthwise
    for row in rows:
        QuantizeHardwareRow.from_dict(row)
        assert "assumed" in row["hardware_model"] or "PYNQ" in row["hardware_model"]
        (bits,) = row["bits_per_seed"]
        assert bits[layers[0].name] == bits[layers[-1].name] == [8, 8]
        assert row["depthwise_a_bits"] == pytest.approx(statistics.fmean(bits[n][1] for n in depthwise), abs=1e-3)
        # held to the uniform 4-bit policy's modelled latency on that accelerator
        assert row["latency_ms_per_seed"][0] <= row["uniform_latency_ms"] * (1 + 1e-5)
    # nasengine report draws every HAQ row's bits per layer, depthwise layers marked
    report = tmp_path / "report"
    code, stdout, stderr = run_cli(capsys, "report", str(tmp_path / "q.json"), "--out", str(report))
    assert code == 0, stderr
    pngs = sorted(p.name for p in report.glob("bits_*.png"))
    assert len(pngs) == 4 and any("bismo_edge" in p for p in pngs) and any("size_of_uniform_4" in p for p in pngs)
    text = (report / "report.md").read_text()
    assert "Bits by hardware" in text and "test after" in text
    code, _, stderr = run_cli(capsys, "report", str(tmp_path / "q.json"), str(tmp_path), "--out", str(report))
    assert code == 2 and "not a mix" in stderr


def test_the_committed_result_file_has_every_row_kind_typed():
    rows = json.loads((Path(__file__).parents[2] / "reports" / "bench" / "quantize.json").read_text())["rows"]
    kinds = {"policy": QuantizePolicyRow, "clip": QuantizeClipRow, "speed": QuantizeSpeedRow,
             "hardware": QuantizeHardwareRow}
    for row in rows:
        kinds[row["kind"]].from_dict(row, "quantize.json")
    assert {row["kind"] for row in rows} == set(kinds)
