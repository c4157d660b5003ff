from __future__ import annotations

import pytest
import torch

from nasengine.cost import count_cost
from nasengine.dynamic import BackboneConfig, RNPConfig, RNPNetwork
from nasengine.dynamic.layers import ConvBN, nested_widths

from .conftest import assert_bucketing_preserves_order, diverse, images, tiny_backbone, tiny_rnp

CASES = [("vgg", "gru"), ("vgg", "none"), ("resnet", "gru"), ("resnet", "none")]


def test_nested_widths_and_validation():
    assert nested_widths(64, 4) == (16, 32, 48, 64)
    assert nested_widths(10, 3) == (4, 7, 10)
    with pytest.raises(ValueError, match="groups"):
        nested_widths(4, 5)
    with pytest.raises(ValueError, match="narrowest stage"):
        RNPConfig(tiny_backbone("vgg"), groups=16)
    with pytest.raises(ValueError, match="cell"):
        RNPConfig(tiny_backbone("vgg"), cell="lstm")
    with pytest.raises(ValueError, match="divisible"):
        BackboneConfig(kind="vgg", widths=(8, 16), depths=(1, 1), input_size=6)


@pytest.mark.parametrize("kind,cell", CASES)
def test_execute_matches_masked_network_and_static_twin(kind, cell):
    x = images(32)
    net = diverse(tiny_rnp, x, kind=kind, cell=cell)
    logits, route = net.execute(x, return_route=True)
    masked = net.forward_masked(x)  # eval mode: dense convs + prefix masks, running BN statistics
    assert torch.equal(masked.actions, route)
    torch.testing.assert_close(logits, masked.logits, rtol=1e-4, atol=1e-5)
    for i in (0, 15, 31):
        static = net.static_network(route[i].tolist(), fold_bn=False)  # unfused BN: checks the folding too
        torch.testing.assert_close(static(x[i: i + 1])[0], logits[i], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,cell", CASES)
def test_bucketing_preserves_order(kind, cell):
    x = images(24, seed=1)
    assert_bucketing_preserves_order(diverse(tiny_rnp, x, kind=kind, cell=cell), x)


@pytest.mark.parametrize("kind,cell", CASES)
def test_per_sample_macs_equal_fvcore_on_the_static_network(kind, cell):
    x = images(16, seed=2)
    net = diverse(tiny_rnp, x, kind=kind, cell=cell)
    _, route = net.execute(x, return_route=True)
    macs = net.route_macs(route)
    backbone = net.route_macs(route, include_decision=False)
    decision = sum(count_cost(net.decision.static_step(t), (1, c, 4, 4)).macs
                   for t, c in enumerate(net.decision.in_channels))
    for i in range(0, 16, 5):
        static = count_cost(net.static_network(route[i].tolist()), (1, 1, 8, 8)).macs
        assert backbone[i] == static
        assert macs[i] == static + decision
    assert net.dense_macs() == count_cost(net.static_network(net.full_route()), (1, 1, 8, 8)).macs


def test_a_layer_of_width_i_computes_only_i_channels(monkeypatch):
    net = tiny_rnp("vgg", "gru", seed=3)
    x = images(1, seed=3)
    calls = []
    original = ConvBN.run

    def spy(self, inp, out=None, relu=True):
        y = original(self, inp, out, relu)
        calls.append((self, inp.shape[1], y.shape[1]))
        return y

    monkeypatch.setattr(ConvBN, "run", spy)
    _, route = net.execute(x, return_route=True)
    assert len(calls) == 1 + net.steps  # stem + one conv per pruned layer, nothing else
    width = net.stem.layer.out_channels
    for (layer, c_in, c_out), unit, a in zip(calls[1:], net.units, route[0].tolist()):
        assert layer is unit.layer
        assert (c_in, c_out) == (width, unit.widths[a])
        width = unit.widths[a]


def test_sliced_conv_reads_only_the_leading_weights():
    layer = ConvBN(8, 16).eval()
    x = torch.randn(2, 4, 6, 6)
    y = layer.run(x, 12)
    with torch.no_grad():
        layer.conv.weight[12:].fill_(float("nan"))  # filters that must not be read
        layer.conv.weight[:, 4:].fill_(float("nan"))  # input channels that must not be read
    layer.clear_folded()
    torch.testing.assert_close(layer.run(x, 12), y)
    assert y.shape == (2, 12, 6, 6)


def test_folded_weights_follow_loaded_state():
    net = tiny_rnp("vgg", seed=4)
    x = images(4, seed=4)
    before = net.execute(x)
    other = RNPNetwork(net.config).eval()
    other.execute(x)  # fills the folded-weight caches
    other.load_state_dict(net.state_dict())
    torch.testing.assert_close(other.execute(x), before)


def test_inference_convs_run_channels_last_on_batches_and_single_images(monkeypatch):
    net = tiny_rnp("vgg", "gru", seed=2)
    layouts = []
    original = torch.nn.functional.conv2d

    def spy(x, weight, *args, **kwargs):
        layouts.append(x.is_contiguous(memory_format=torch.channels_last)
                       and weight.is_contiguous(memory_format=torch.channels_last))
        return original(x, weight, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "conv2d", spy)
    net.execute(images(6, seed=2))  # bucketed batches are re-sliced between layers
    net.execute(images(1, seed=2))
    assert layouts and all(layouts)
