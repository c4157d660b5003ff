from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nasengine.bench.dynamic_frames import evaluate_uniform, evenly_spaced, frames_rows, uniform_counts
from nasengine.cli.main import main
from nasengine.dynamic import BackboneConfig, evaluate_dynamic
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


def test_rows_of_several_seeds_give_mean_and_spread():
    bb = BackboneConfig.default("resnet", in_channels=1, input_size=8, widths=(4, 8), depths=(1, 1))
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(FramesNetwork(FramesConfig(bb, frames=4)).eval())
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(16, 4, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    rows = frames_rows([(nets[0], 0.5), (nets[1], 0.7)], loader, devices=["cpu"], threads=1, repeats=1, source="t")
    assert [r["batch"] for r in rows] == [1, 16]
    accs = [evaluate_dynamic(net, loader)["acc"] for net in nets]
    macs = [evaluate_dynamic(net, loader)["macs"] for net in nets]
    for row in rows:
        assert row["seeds"] == 2 and row["seed_accs"] == pytest.approx(accs, abs=1e-4)
        assert row["acc"] == pytest.approx(sum(accs) / 2, abs=1e-4)
        assert row["acc_std"] == pytest.approx(abs(accs[0] - accs[1]) / 2, abs=1e-4)
        assert row["dense_acc"] == pytest.approx(0.6) and row["dense_acc_std"] == pytest.approx(0.1)
        assert row["macs"] == round(sum(macs) / 2)
        assert row["mac_reduction"] == pytest.approx(row["all_frames_macs"] / row["macs"], rel=1e-3)
        assert row["speedup"] > 0 and row["efficiency"] == pytest.approx(row["speedup"] / row["timed_mac_reduction"],
                                                                         rel=0.05)
        assert row["beats_uniform"] == (row["acc"] > row["uniform_acc"])
    assert rows[0]["static_route_speedup"] > 0 and rows[1]["static_route_speedup"] is None


def test_seeds_are_refused_for_other_methods(tmp_path, capsys):
    out = tmp_path / "x.json"
    assert main(["bench", "dynamic", "--methods", "rnp", "--seeds", "2", "--out", str(out)]) == 2
    assert "--seeds 2 applies to --methods frames only" in capsys.readouterr().err and not out.exists()
