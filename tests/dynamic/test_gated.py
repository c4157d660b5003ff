from __future__ import annotations

import pytest
import torch

from nasengine.cost import count_cost
from nasengine.dynamic import BackboneConfig, GatedConfig, GatedNetwork
from nasengine.dynamic.layers import ConvBN

from .conftest import assert_bucketing_preserves_order, diverse, images, tiny_backbone, tiny_gated

CASES = [("skipnet", "feedforward"), ("skipnet", "recurrent"), ("routing", "feedforward"), ("routing", "recurrent")]


def test_config_validation():
    with pytest.raises(ValueError, match="needs backbone kind 'resnet'"):
        GatedConfig(tiny_backbone("vgg"))
    with pytest.raises(ValueError, match="branches"):
        GatedConfig(tiny_backbone("resnet"), method="routing", branches=(0.5,))
    with pytest.raises(ValueError, match="gate must be one of"):
        GatedConfig(tiny_backbone("resnet"), gate="conv")
    net = GatedNetwork(GatedConfig(BackboneConfig(kind="resnet", widths=(8, 16), depths=(1, 2), input_size=8)))
    assert [b.gated for b in net.blocks] == [True, False, True]  # the downsampling block always runs


@pytest.mark.parametrize("method,gate", CASES)
def test_execute_matches_training_path_and_static_twin(method, gate):
    x = images(32)
    net = diverse(tiny_gated, x, routes=2, method=method, gate=gate)
    logits, route = net.execute(x, return_route=True)
    greedy = net.forward_train(x, "greedy")  # eval mode: every path on its samples, BN running stats
    assert torch.equal(greedy.paths, route)
    torch.testing.assert_close(logits, greedy.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(net.forward_train(x, "fixed", route=route).logits, logits, rtol=1e-4, atol=1e-5)
    for i in (0, 16, 31):
        static = net.static_network(route[i].tolist(), fold_bn=False)
        torch.testing.assert_close(static(x[i: i + 1])[0], logits[i], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method,gate", CASES)
def test_bucketing_preserves_order(method, gate):
    x = images(20, seed=1)
    assert_bucketing_preserves_order(diverse(tiny_gated, x, routes=2, method=method, gate=gate), x)


@pytest.mark.parametrize("method,gate", CASES)
def test_per_sample_macs_equal_fvcore_on_the_static_network(method, gate):
    x = images(16, seed=2)
    net = diverse(tiny_gated, x, routes=2, method=method, gate=gate)
    _, route = net.execute(x, return_route=True)
    macs, backbone = net.route_macs(route), net.route_macs(route, include_decision=False)
    gates = sum(count_cost(net.gates.static_step(t), (1, c, 4, 4)).macs for t, c in enumerate(net.gates.in_channels))
    for i in range(16):
        static = count_cost(net.static_network(route[i].tolist()), (1, 1, 8, 8)).macs
        assert backbone[i] == static and macs[i] == static + gates
    assert net.dense_macs() == count_cost(net.static_network(net.full_route()), (1, 1, 8, 8)).macs


@pytest.mark.parametrize("method,gate", CASES)
def test_skipped_work_is_never_computed(method, gate, monkeypatch):
    x = images(32, seed=3)
    net = diverse(tiny_gated, x, routes=2, method=method, gate=gate)
    _, route = net.execute(x, return_route=True)
    samples_run: dict[int, int] = {}
    original = ConvBN.run

    def spy(self, inp, out=None, relu=True):
        samples_run[id(self)] = samples_run.get(id(self), 0) + inp.shape[0]
        return original(self, inp, out, relu)

    monkeypatch.setattr(ConvBN, "run", spy)
    net.execute(x)
    for g, block in enumerate(net.gated_blocks):
        for path in range(net.num_paths):
            body = block.body_of[path]
            if body is None:
                continue
            routed = int((route[:, g] == path).sum())
            for conv in (block.bodies[body].conv1, block.bodies[body].conv2):
                assert samples_run.get(id(conv), 0) == routed  # 0 calls when no sample takes the path
    # batch of one: a skipped block's convs are not called at all
    skipped = (route == 0).nonzero()
    if len(skipped):
        i, g = skipped[0].tolist()
        samples_run.clear()
        net.execute(x[i: i + 1])
        body = net.gated_blocks[g].bodies[0]
        assert id(body.conv1) not in samples_run and id(body.conv2) not in samples_run


def test_training_modes_give_gradients_to_the_gates():
    for method in ("skipnet", "routing"):
        net = tiny_gated(method).train()
        x = images(8)
        trace = net.forward_train(x, "relaxed")
        cost = sum(w[:, -1].sum() for w in trace.weights)
        (trace.logits.sum() + cost).backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.gates.parameters())
        net.zero_grad()
        trace = net.forward_train(x, "sample")
        assert trace.log_probs.shape == (8, net.steps)
        trace.log_probs.sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.gates.parameters())
