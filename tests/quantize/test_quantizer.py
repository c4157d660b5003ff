"""The fake quantizer, activation calibration, and the exact size of a policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasengine.quantize import (
    QuantConv2d,
    QuantizeError,
    QuantLinear,
    activation_stats,
    apply_policy,
    bitops,
    fake_quantize_weight,
    float_size_bits,
    kl_threshold,
    quantizable_layers,
    quantized_copy,
    quantized_size_bits,
)
from nasengine.quantize.calibrate import BINS, mse_threshold
from tests.quantize.nets import batches, tiny_net


def _quantized(policy):
    net = tiny_net()
    data = batches()
    layers = quantizable_layers(net, data[0][:2])
    stats = activation_stats(net, [layer.name for layer in layers], data)
    return net, layers, apply_policy(quantized_copy(net, layers), layers, policy, stats), data


def test_layers_are_found_in_forward_order_with_their_macs():
    layers = quantizable_layers(tiny_net(), batches()[0][:1])
    assert [(layer.name, layer.kind, layer.depthwise) for layer in layers] == [
        ("0", "conv", False), ("3", "conv", True), ("6", "conv", False), ("10", "linear", False)]
    assert [layer.macs for layer in layers] == [8 * 9 * 64, 8 * 9 * 16, 8 * 16 * 16, 160]
    assert [layer.feature_size for layer in layers] == [64, 64, 16, 1]
    with pytest.raises(QuantizeError, match="no Conv2d or Linear"):
        quantizable_layers(torch.nn.Sequential(torch.nn.ReLU()), torch.zeros(1, 3))


def test_eight_bits_stay_close_to_the_float_network():
    net, _, quant, data = _quantized([(8, 8)] * 4)
    with torch.no_grad():
        ref, out = net(data[1]), quant(data[1])
    assert float((out - ref).abs().max()) < 0.02 * float(ref.abs().max())
    _, _, coarse, _ = _quantized([(3, 3)] * 4)
    with torch.no_grad():  # and fewer bits move the output more
        assert float((coarse(data[1]) - ref).abs().max()) > float((out - ref).abs().max())


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_k_bit_weights_take_at_most_2_to_the_k_values_per_channel(bits):
    torch.manual_seed(bits)
    weight = torch.randn(6, 4, 3, 3) * torch.linspace(0.01, 3, 6).view(6, 1, 1, 1)
    q = fake_quantize_weight(weight, bits)
    for channel, original in zip(q, weight):
        values = channel.unique()
        assert len(values) <= 2 ** bits and float(values.abs().max()) == pytest.approx(float(original.abs().max()))
        steps = torch.round(values / values.abs().max() * (2 ** (bits - 1) - 1))  # on the symmetric grid
        assert torch.allclose(values / values.abs().max() * (2 ** (bits - 1) - 1), steps, atol=1e-4)
    zero = fake_quantize_weight(torch.zeros(2, 3), bits)  # an all-zero channel stays zero
    assert torch.equal(zero, torch.zeros(2, 3))


def test_activations_take_at_most_2_to_the_k_values_and_gradients_pass_straight_through():
    _, layers, quant, data = _quantized([(4, 2), (4, 3), (4, 4), (4, 8)])
    seen = {}
    hooks = [quant.get_submodule(layer.name).register_forward_hook(
        lambda m, inputs, out, name=layer.name: seen.__setitem__(name, m.quantized_input(inputs[0])))
        for layer in layers]
    with torch.no_grad():
        quant(data[1])
    for h in hooks:
        h.remove()
    assert [len(seen[layer.name].unique()) <= 2 ** a for layer, a in zip(layers, (2, 3, 4, 8))] == [True] * 4
    conv = quant.get_submodule("6")
    assert isinstance(conv, QuantConv2d) and isinstance(quant.get_submodule("10"), QuantLinear)
    x = torch.rand(2, 8, 4, 4, requires_grad=True) * 0.1
    x.retain_grad()
    conv(x).sum().backward()
    assert conv.weight.grad is not None and float(conv.weight.grad.abs().sum()) > 0 and x.grad is not None


def test_kl_threshold_clips_a_long_tail_at_few_bits():
    rng = np.random.default_rng(0)
    values = np.abs(rng.laplace(size=100_000))
    values[:5] = 40.0  # rare outliers stretch the range
    hist, _ = np.histogram(values, bins=BINS, range=(0, values.max()))
    width = values.max() / BINS
    t2, t4 = kl_threshold(hist, width, 4), kl_threshold(hist, width, 16)
    assert 0 < t2 < t4 < 0.5 * values.max()
    assert kl_threshold(hist[:3], 1.0, 16) == 3.0  # fewer bins than levels: the whole range
    m2, m4 = mse_threshold(hist, width, 3), mse_threshold(hist, width, 15)
    assert 0 < m2 < m4 < 0.5 * values.max()
    flat = np.ones(BINS)  # a uniform distribution gains nothing from clipping
    assert mse_threshold(flat, 1.0, 15) >= 0.9 * BINS


def test_kl_threshold_keeps_the_range_of_digit_images_at_3_bits():
    # With as many candidate bins as levels, P and Q agree bin for bin and the clipped mass
    # costs only about log(levels): without TensorRT's 16 bins per level, the input images
    # (signed, so 4 levels a side at 3 bits) were cut to 4 of 1024 bins, 0.4% of their range.
    from nasengine.compress.run import calibration_batches
    from nasengine.data import load_dataset

    images = torch.cat(calibration_batches(load_dataset("digits", image_size=32, channels=3), 256))
    stats = activation_stats(nn.Identity(), [""], [images])[""]
    assert stats.signed and stats.clip_range(3, "kl")[1] >= stats.absmax / 16


def test_clipping_is_chosen_below_5_bits_only():
    net = tiny_net()
    data = batches()
    layers = quantizable_layers(net, data[0][:2])
    stats = activation_stats(net, [layer.name for layer in layers], data)["6"]  # after a ReLU: unsigned
    assert stats.low == 0.0 and stats.clip_range(3, "max") == stats.clip_range(8, "mse") == (0.0, stats.high)
    assert stats.clip_range(5, "kl") == (0.0, stats.high)
    for clip in ("kl", "mse"):
        low, high = stats.clip_range(2, clip)
        assert low == 0.0 and 0 < high <= stats.high
    first = activation_stats(net, ["0"], data)["0"]  # the network's input: signed, symmetric clipping
    low, high = first.clip_range(2, "mse")
    assert first.low <= low < 0 < high <= first.high and (low == first.low or high == first.high or low == -high)
    with pytest.raises(ValueError, match="unknown clipping"):
        stats.clip_range(4, "p99")


def test_policy_size_and_bitops_are_exact():
    net, layers, quant, _ = _quantized([(2, 8), (3, 8), (5, 6), (8, 8)])
    weights = {"0": 72, "3": 72, "6": 128, "10": 160}
    biases_bn = sum(t.numel() * t.element_size() * 8 for k, t in net.state_dict().items()
                    if k.rpartition(".")[0] not in weights or not k.endswith("weight"))
    scales = 32 * ((8 + 2) + (8 + 2) + (16 + 2) + (10 + 2))
    expected = 72 * 2 + 72 * 3 + 128 * 5 + 160 * 8 + biases_bn + scales
    policy = [(2, 8), (3, 8), (5, 6), (8, 8)]
    assert quantized_size_bits(net, layers, policy) == quantized_size_bits(quant, layers, policy) == expected
    assert float_size_bits(net) == 32 * sum(weights.values()) + biases_bn  # BN counters at int64 in both
    assert bitops(layers, policy) == sum(layer.macs * w * a for layer, (w, a) in zip(layers, policy))
    with pytest.raises(ValueError, match="4 quantizable layers"):
        quantized_size_bits(net, layers, policy[:3])
