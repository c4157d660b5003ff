from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nasengine.bench.dynamic_frames import evaluate_uniform, evenly_spaced, uniform_counts
from nasengine.cli.main import main
from nasengine.dynamic import BackboneConfig
from nasengine.dynamic.frames import FramesConfig, FramesNetwork

TINY = ["--method", "frames", "--dataset", "clips", "--frames", "4", "--image-size", "16", "--widths", "4,8",
        "--depths", "1,1", "--epochs", "1", "--policy-epochs", "1", "--finetune-epochs", "1", "--quiet"]


def test_evenly_spaced_frames_are_segment_centres():
    assert evenly_spaced(8, 8) == list(range(8))
    assert evenly_spaced(8, 2) == [2, 6]
    assert evenly_spaced(8, 1) == [4]
    assert evenly_spaced(8, 3) == [1, 4, 6]


def test_uniform_counts_match_a_fractional_mean():
    counts = uniform_counts(10, 2.3)
    assert set(counts.tolist()) == {2, 3} and int(counts.sum()) == 23
    assert uniform_counts(4, 3.0).tolist() == [3, 3, 3, 3]


def test_uniform_sampling_runs_the_dense_network_on_the_sampled_frames():
    torch.manual_seed(0)
    bb = BackboneConfig.default("resnet", in_channels=1, input_size=8, widths=(4, 8), depths=(1, 1))
    net = FramesNetwork(FramesConfig(bb, frames=4)).eval()
    x, y = torch.randn(6, 4, 1, 8, 8), torch.randint(0, 10, (6,))
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    out = evaluate_uniform(net, loader, 1.5)
    counts = uniform_counts(6, 1.5).tolist()  # [1, 2, 1, 2, 1, 2]
    dense = net.static_network(net.full_route())
    expected = [int(dense(x[i:i + 1, evenly_spaced(4, k)]).argmax(1) == y[i]) for i, k in enumerate(counts)]
    assert out["acc"] == pytest.approx(sum(expected) / 6)
    assert out["frames"] == pytest.approx(1.5)
    per_frame, head = sum(net.stage_macs()), 8 * 10
    assert out["macs"] == pytest.approx(1.5 * per_frame + head)
    # on every frame it is the dense network, costing the dense MACs
    assert evaluate_uniform(net, loader, 4.0)["macs"] == pytest.approx(net.dense_macs())


def test_bench_writes_frames_rows_for_a_frames_run(tmp_path):
    run = tmp_path / "frames"
    assert main(["dynamic", "train", *TINY, "--out", str(run)]) == 0
    out = tmp_path / "dynamic.json"
    argv = ["bench", "dynamic", "--dynamic-run", str(run), "--repeats", "1", "--threads", "1", "--device", "cpu",
            "--out", str(out)]
    assert main(argv) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["method"], r["batch"]) for r in rows] == [("frames", 1), ("frames", 16)]
    metrics = json.loads((run / "metrics.json").read_text())
    for row in rows:
        assert row["acc"] == pytest.approx(metrics["test_acc"], abs=1e-4)
        assert 1 <= row["frames_kept"] <= 4 and row["uniform_frames"] == pytest.approx(row["frames_kept"], abs=0.01)
        assert row["macs"] <= row["all_frames_macs"] and row["uniform_macs"] <= row["all_frames_macs"]
        assert row["mac_reduction"] == pytest.approx(row["all_frames_macs"] / row["macs"], rel=1e-3)
        assert row["dense_ms"] > 0 and row["dynamic_ms"] > 0
        assert row["within_1pt_of_all_frames"] == (row["acc"] >= row["all_frames_acc"] - 0.01)
        assert row["mac_goal_met"] == (row["mac_reduction"] >= 2.0)
