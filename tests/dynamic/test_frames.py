from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nasengine.cost import count_cost
from nasengine.dynamic import BackboneConfig, DynamicTrainConfig, train_dynamic
from nasengine.dynamic.frame_ops import FrameBatch, temporal_shift
from nasengine.dynamic.frames import FramesConfig, FramesNetwork
from nasengine.dynamic.frames_training import FramesRecipe
from nasengine.dynamic.layers import ConvBN

from .conftest import Stop, randomize, stop_after

T, SIZE = 6, 8


def tiny_frames(shift: bool = False, seed: int = 0, gate_scale: float = 3.0, min_frames: int = 1) -> FramesNetwork:
    """Random BN statistics and strongly input-dependent decisions, in eval mode."""
    torch.manual_seed(seed)
    bb = BackboneConfig(kind="resnet", widths=(8, 16, 32), depths=(1, 2, 1), in_channels=1, input_size=SIZE)
    net = FramesNetwork(FramesConfig(bb, frames=T, shift=shift, hidden=8, min_frames=min_frames))
    return randomize(net, seed, gate_scale)


def clips(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    scale = torch.rand(n, T, 1, 1, 1, generator=gen) * 4  # frames of very different energy
    return torch.randn(n, T, 1, SIZE, SIZE, generator=gen) * scale


def varied(net: FramesNetwork, x: torch.Tensor) -> torch.Tensor:
    _, route = net.execute(x, return_route=True)
    assert len(set(map(tuple, route.tolist()))) > 2, "decisions should differ between clips"
    assert (route[:, -1] < T).all() and (route[:, -1] >= 1).all()
    return route


def test_dropped_frames_are_never_computed(monkeypatch):
    net, x = tiny_frames(), clips(12)
    route = varied(net, x)
    rows_run: dict[int, int] = {}
    original = ConvBN.run

    def spy(self, inp, out=None, relu=True):
        rows_run[id(self)] = rows_run.get(id(self), 0) + inp.shape[0]
        return original(self, inp, out, relu)

    monkeypatch.setattr(ConvBN, "run", spy)
    net.execute(x)
    for s, stage in enumerate(net.stages):
        frames = x.shape[0] * T if s == 0 else int(route[:, s - 1].sum())
        for block in stage:
            for conv in (block.bodies[0].conv1, block.bodies[0].conv2):
                assert rows_run[id(conv)] == frames


@pytest.mark.parametrize("shift", [False, True])
def test_execute_matches_the_training_path(shift):
    net, x = tiny_frames(shift), clips(10, seed=1)
    logits, route = net.execute(x, return_route=True)
    trace = net.forward_train(x, "greedy")
    torch.testing.assert_close(logits, trace.logits, rtol=1e-4, atol=1e-5)
    assert torch.equal(route, trace.route) and torch.equal(trace.kept.sum(1), route[:, -1])


def test_kept_frames_give_the_dense_model_outputs_on_those_frames():
    net, x = tiny_frames(), clips(10, seed=2)
    varied(net, x)
    trace = net.forward_train(x, "greedy")
    dense = net.static_network(net.full_route())
    for i in range(x.shape[0]):
        kept = x[i, trace.kept[i]][None]
        torch.testing.assert_close(trace.logits[i: i + 1], dense(kept), rtol=1e-4, atol=1e-5)


def test_with_every_frame_kept_the_shift_matches_the_dense_tsm_network():
    net, x = tiny_frames(shift=True), clips(4, seed=3)
    for head in net.decisions.heads:
        torch.nn.init.constant_(head.bias, 100.0)  # keep everything
    net.decisions._clear_params()
    logits, route = net.execute(x, return_route=True)
    assert (route == T).all()
    torch.testing.assert_close(logits, net.static_network(net.full_route())(x), rtol=1e-4, atol=1e-5)


def test_per_clip_macs_equal_fvcore_on_the_static_network():
    net, x = tiny_frames(shift=True), clips(12, seed=4)
    route = varied(net, x)
    backbone, total = net.route_macs(route, include_decision=False), net.route_macs(route)
    per_frame = [count_cost(net.decisions.static_step(t), (1, c, 1, 1)).macs
                 for t, c in enumerate(net.decisions.in_channels)]
    for i in range(x.shape[0]):
        r = route[i].tolist()
        assert backbone[i] == count_cost(net.static_network(r), (1, T, 1, SIZE, SIZE)).macs
        alive = [T] + r[:-1]
        assert total[i] == backbone[i] + sum(a * m for a, m in zip(alive, per_frame))
    assert net.dense_macs() == count_cost(net.static_network(net.full_route()), (1, T, 1, SIZE, SIZE)).macs


def test_regrouping_keeps_clip_and_time_order():
    gen = torch.Generator().manual_seed(5)
    batch = FrameBatch.full(7, T, torch.device("cpu"))
    keep = torch.rand(7 * T, generator=gen) < 0.5
    rows, kept = batch.select(keep)
    assert rows is not None and torch.equal(rows, keep.nonzero()[:, 0])
    assert torch.equal(kept.clip, batch.clip[keep])
    # Each clip on its own gives the same logits and route as inside the batch.
    net, x = tiny_frames(shift=True, seed=1), clips(9, seed=6)
    logits, route = net.execute(x, return_route=True)
    for i in range(x.shape[0]):
        one, r = net.execute(x[i: i + 1], return_route=True)
        torch.testing.assert_close(one, logits[i: i + 1], rtol=1e-4, atol=1e-5)
        assert torch.equal(r[0], route[i])


def test_every_clip_keeps_its_best_frames_up_to_the_minimum():
    batch = FrameBatch.full(3, 4, torch.device("cpu"))
    keep = torch.tensor([1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0], dtype=torch.bool)
    score = torch.tensor([0.0, 5, 1, 2, 3, 1, 4, 2, 0, 0, 0, 9])
    forced = batch.top_up(keep, score, 2)
    assert forced.nonzero()[:, 0].tolist() == [1, 4, 6]
    net = tiny_frames(gate_scale=30.0, min_frames=3)
    _, route = net.execute(clips(16, seed=7), return_route=True)
    assert (route >= 3).all()


def test_sampled_decisions_get_policy_gradients():
    net, x = tiny_frames(seed=2, gate_scale=0.5).train(), clips(8, seed=8)
    trace = net.forward_train(x, "sample")
    assert trace.log_prob is not None and (trace.log_prob < 0).any()
    trace.log_prob.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.decisions.heads.parameters())


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(clips(24, seed=9), torch.randint(0, 10, (24,), generator=gen))
    train, val = DataLoader(data, batch_size=8, shuffle=False), DataLoader(data, batch_size=12)
    cfg = DynamicTrainConfig(epochs=1, policy_epochs=1, finetune_epochs=1, batch_size=8, penalty=0.5)

    def build() -> FramesNetwork:
        return tiny_frames(seed=3, gate_scale=0.5).train()

    reference = build()
    full = train_dynamic(reference, FramesRecipe(), train, val, cfg, progress=False)
    assert [r["phase"] for r in full] == ["pretrain", "policy", "finetune"]

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Stop):
        train_dynamic(build(), FramesRecipe(), train, val, cfg, checkpoint=ckpt, progress=False, on_epoch=stop_after(2))
    resumed = build()
    history = train_dynamic(resumed, FramesRecipe(), train, val, cfg, checkpoint=ckpt, progress=False)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, msg=key)
    assert history[-1]["val_acc"] == full[-1]["val_acc"]


@pytest.mark.parametrize("min_frames, gate_scale", [(1, 3.0), (3, 30.0)])
def test_single_clip_path_equals_the_batched_path(monkeypatch, min_frames, gate_scale):
    """A batch of one clip skips the clip bookkeeping; its logits, route and computed rows
    equal those of the same clip inside a batch."""
    net, x = tiny_frames(shift=True, seed=2, gate_scale=gate_scale, min_frames=min_frames), clips(8, seed=8)
    logits, route = net.execute(x, return_route=True)
    assert len(set(map(tuple, route.tolist()))) > 1
    rows_run: list[int] = []
    original = ConvBN.run

    def spy(self, inp, out=None, relu=True):
        rows_run.append(inp.shape[0])
        return original(self, inp, out, relu)

    monkeypatch.setattr(ConvBN, "run", spy)
    for i in range(x.shape[0]):
        rows_run.clear()
        one, r = net.execute(x[i: i + 1], return_route=True)
        torch.testing.assert_close(one, logits[i: i + 1], rtol=1e-4, atol=1e-5)
        assert torch.equal(r, route[i: i + 1]) and r[0, -1] >= min_frames
        alive = [T] + r[0].tolist()
        expected = [T] + [alive[s] for s, stage in enumerate(net.stages) for block in stage
                          for _ in range(2 + (block.shortcut.proj is not None))]
        assert rows_run == expected


def test_temporal_shift_never_reads_across_clips():
    batch = FrameBatch(torch.tensor([0, 0, 0, 2, 3, 3]), 4)
    x = torch.randn(6, 16, 2, 2).contiguous(memory_format=torch.channels_last)
    out = temporal_shift(x, batch)
    assert out.is_contiguous(memory_format=torch.channels_last)
    clip = batch.clip.tolist()
    for i in range(6):
        nxt = x[i + 1, :2] if i + 1 < 6 and clip[i + 1] == clip[i] else torch.zeros(2, 2, 2)
        prev = x[i - 1, 2:4] if i > 0 and clip[i - 1] == clip[i] else torch.zeros(2, 2, 2)
        torch.testing.assert_close(out[i], torch.cat((nxt, prev, x[i, 4:])))
