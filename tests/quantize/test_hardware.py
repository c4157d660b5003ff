"""Latency limits from hardware tables: the analytic bit-serial models, measured CPU tables,
HAQ's budget rule under a latency limit, and bad names or tables on the command line."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from nasengine.layer_policy import BitBudget
from nasengine.quantize import activation_stats, quantizable_layers
from nasengine.quantize.hardware import ACCELERATORS, MODELLED, ROOFLINES, analytic_table, load_table
from nasengine.quantize.hardware_measure import measure_table
from tests.cli_helpers import run_cli
from tests.quantize.nets import batches, tiny_net


def test_the_analytic_model_costs_macs_times_bits_over_throughput():
    net = tiny_net()
    layers = quantizable_layers(net, batches(1, 2)[0])
    table = analytic_table("bismo", layers)
    assert table.kind == "model" and "not measured" in table.description
    # By hand: the tiny net's MACs per image (conv 1->8 3x3 at 8x8, depthwise 3x3 stride 2 to 4x4,
    # pointwise 8->16 at 4x4, linear 16->10), at BISMO's 8 x 8 x 256 one-bit products per cycle at 200 MHz.
    assert [layer.macs for layer in layers] == [8 * 9 * 64, 8 * 9 * 16, 8 * 16 * 16, 16 * 10]
    per_ms = 8 * 8 * 256 * 200e6 / 1000
    policy = [(8, 8), (3, 5), (2, 7), (6, 4)]
    expected = sum(layer.macs * w * a for layer, (w, a) in zip(layers, policy)) / per_ms
    assert table.cost(layers)(policy) == pytest.approx(expected, rel=1e-12)
    fusion = analytic_table("bitfusion", layers).cost(layers)(policy)
    assert fusion == pytest.approx(expected * ACCELERATORS["bismo"] / ACCELERATORS["bitfusion"], rel=1e-12)


def test_a_roofline_model_takes_the_longer_of_compute_and_memory_time():
    net = tiny_net()
    layers = quantizable_layers(net, batches(1, 2)[0])
    for name, roof in ROOFLINES.items():
        table = analytic_table(name, layers)
        assert table.batch == roof.batch and "not measured" in table.description
        for layer, ms in zip(layers, table.ms):
            for w, a in ((2, 2), (4, 8), (8, 3)):
                compute = roof.batch * layer.macs * w * a / roof.peak
                memory = (layer.weights * w + roof.batch * layer.in_channels * layer.feature_size * a) / roof.bandwidth
                assert ms[w][a] == pytest.approx(1000 * max(compute, memory), rel=1e-12)
    # The edge board's depthwise layer (index 1) waits on memory, where activation bits cost
    # far more than weight bits; on the cloud configuration it is compute bound (w x a).
    edge, cloud = (np.asarray(analytic_table(name, layers).ms[1]) for name in ("bismo-edge", "bismo-cloud"))
    assert edge[8, 2] < 0.5 * edge[2, 8] and edge[2, 8] > 1.8 * edge[2, 4]
    assert cloud[8, 4] == pytest.approx(2 * cloud[4, 4]) and cloud[4, 8] == pytest.approx(cloud[8, 4])


@pytest.mark.parametrize("hardware", sorted(MODELLED))
def test_the_budget_rule_never_exceeds_a_latency_limit(hardware):
    net = tiny_net()
    layers = quantizable_layers(net, batches(1, 2)[0])
    cost = analytic_table(hardware, layers).cost(layers)
    bounds = [((8, 8), (8, 8))] + [((2, 8), (2, 8))] * (len(layers) - 2) + [((8, 8), (8, 8))]
    rng = random.Random(0)
    low, high = cost([(8, 8)] + [(2, 2)] * (len(layers) - 2) + [(8, 8)]), cost([(8, 8)] * len(layers))
    for trial in range(200):
        limit = rng.uniform(low, high)
        budget = BitBudget(cost, limit, bounds)
        policy = [(8, 8)] + [(rng.randint(2, 8), rng.randint(2, 8)) for _ in layers[2:]] + [(8, 8)]
        final = budget.enforce(policy)
        assert cost(final) <= limit, (trial, policy, final)
        assert all(fw <= w and fa <= a for (fw, fa), (w, a) in zip(final, policy))


def test_a_measured_cpu_table_is_flat_over_bits_and_loads_back(tmp_path):
    net = tiny_net()
    images = batches(1, 1)[0]
    layers = quantizable_layers(net, images)
    stats = activation_stats(net, [layer.name for layer in layers], batches())
    table = measure_table("cpu-int8", net, layers, stats, images, repeats=3)
    ms = np.asarray(table.ms)
    assert table.kind == "measured" and table.batch == 1 and ms.shape == (len(layers), 9, 9)
    assert np.all(ms[:, 1:, 1:] > 0) and np.all(ms[:, 1:, 1:] == ms[:, 8:, 8:]) and table.fixed_ms >= 0
    again = load_table(table.save(tmp_path / "t.json"))
    assert again.cost(layers)([(4, 4)] * len(layers)) == table.cost(layers)([(8, 8)] * len(layers))


def _quantize(capsys, export_folder, out, *args):
    return run_cli(capsys, "quantize", "--model", str(export_folder), "--calibration-images", "64", "--quiet",
                   "--out", str(out), *args)


def test_haq_meets_a_modelled_latency_limit(capsys, export_folder, tmp_path):
    code, _, stderr = _quantize(capsys, export_folder, tmp_path / "u8", "--method", "uniform", "--bits", "8",
                                "--hardware", "bitfusion", "--max-latency-ms", "1000")
    assert code == 0, stderr
    full = json.loads((tmp_path / "u8" / "quantize.json").read_text())["hardware"]
    assert full["kind"] == "model" and "not measured" in full["description"]
    limit = 0.3 * full["latency_ms"]
    code, stdout, stderr = _quantize(capsys, export_folder, tmp_path / "haq", "--method", "haq", "--set", "episodes=3",
                                     "--set", "warmup=1", "--hardware", "bitfusion", "--max-latency-ms", str(limit))
    assert code == 0, stderr
    record = json.loads((tmp_path / "haq" / "quantize.json").read_text())
    assert record["limit"]["kind"] == "latency" and record["hardware"]["latency_ms"] <= limit
    table = load_table(tmp_path / "haq" / "hardware.json")
    assert table.hardware == "bitfusion" and "latency on bitfusion (model)" in stdout


def _other_layers_table(tmp_path):
    path = tmp_path / "other.json"
    layers = quantizable_layers(tiny_net(), batches(1, 2)[0])
    analytic_table("bismo", layers).save(path)
    return path


@pytest.mark.parametrize(("args", "needle"), [
    (["--hardware", "tpu", "--max-latency-ms", "1"], "neither a hardware name"),
    (["--hardware", "bismo"], "go together"),
    (["--hardware", "bismo", "--max-latency-ms", "1", "--max-size", "50%"], "give one limit"),
    (["--hardware", "bismo", "--max-latency-ms", "-1"], "> 0"),
    (["--hardware", "bismo", "--max-latency-ms", "1e-9"], "cannot be met"),
    (["--hardware", "BAD_JSON", "--max-latency-ms", "1"], "not a hardware table"),
    (["--hardware", "OTHER", "--max-latency-ms", "1"], "was made for layers"),
])
def test_bad_hardware_is_a_one_line_error(capsys, export_folder, tmp_path, args, needle):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    args = [str(bad) if a == "BAD_JSON" else str(_other_layers_table(tmp_path)) if a == "OTHER" else a for a in args]
    code, _, stderr = _quantize(capsys, export_folder, tmp_path / "x", "--method", "haq", *args)
    assert code == 2 and needle in stderr and len(stderr.strip().splitlines()) == 1, stderr
