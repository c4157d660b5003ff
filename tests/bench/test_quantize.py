"""``nasengine bench quantize`` on a tiny configuration: a quarter-width VGG, one bit width,
two seeds, a few HAQ episodes at equal size and at equal modelled latency."""

from __future__ import annotations

import json
import statistics

import pytest

from nasengine.cli.main import main
from nasengine.records.bench_quantize import QuantizePolicyRow
from tests.cli_helpers import run_cli

ARGV = ["bench", "quantize", "--backbones", "vgg", "--bits", "4", "--seeds", "2", "--episodes", "2", "--warmup", "1",
        "--train-epochs", "1", "--width-mult", "0.25", "--repeats", "2"]


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


def test_bench_quantize_refuses_unknown_backbones(tmp_path, capsys):
    code, _, stderr = run_cli(capsys, "bench", "quantize", "--backbones", "alexnet", "--runs", str(tmp_path),
                              "--out", str(tmp_path / "q.json"))
    assert code == 2 and "alexnet" in stderr and len(stderr.strip().splitlines()) == 1
