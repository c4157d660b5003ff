"""The int8 network on PyTorch's x86 kernels matches the fake-quantized one."""

from __future__ import annotations

import json

import pytest
import torch

from nasengine.data import load_dataset
from nasengine.quantize import QuantizeError, activation_stats, apply_policy, quantizable_layers, quantized_copy
from nasengine.quantize.export import load_int8, load_quantized
from nasengine.quantize.int8 import Int8Layer, int8_model, output_ranges
from tests.cli_helpers import run_cli
from tests.quantize.nets import batches, tiny_net


def _fake_quantized(bits):
    net = tiny_net()
    data = batches(4, 32)
    layers = quantizable_layers(net, data[0][:2])
    names = [layer.name for layer in layers]
    stats = activation_stats(net, names, data)
    return apply_policy(quantized_copy(net, layers), layers, bits, stats).eval(), names, data


def test_the_int8_network_matches_the_fake_quantized_one():
    quant, names, data = _fake_quantized([(8, 8)] * 4)
    int8 = int8_model(quant, output_ranges(quant, names, data))
    assert all(isinstance(int8.get_submodule(n), Int8Layer) for n in names)
    assert int8.get_submodule(names[0]).layer.weight().is_quantized
    x = batches(1, 256, seed=9)[0]
    with torch.no_grad():
        ref, out = quant(x), int8(x)
    assert float((out - ref).abs().max()) <= 0.02 * float(ref.abs().max())
    assert float((out.argmax(1) == ref.argmax(1)).float().mean()) >= 0.95


def test_fewer_than_8_bits_are_refused():
    quant, names, data = _fake_quantized([(8, 8), (4, 8), (8, 8), (8, 8)])
    with pytest.raises(QuantizeError, match="8-bit weights and activations"):
        int8_model(quant, output_ranges(quant, names, data))


def _difference(int8, fake) -> float:
    """The largest output difference on the first 64 training images (the calibration batch)."""
    data = load_dataset("digits", image_size=8, channels=1)
    x = torch.stack([data.train[i][0] for i in range(64)])
    with torch.no_grad():
        return float((int8(x) - fake(x)).abs().max())


def test_an_8_bit_quantization_records_and_restores_its_int8_network(capsys, export_folder, tmp_path):
    out = tmp_path / "u8"
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), "--method", "uniform", "--bits", "8",
                              "--calibration-images", "64", "--out", str(out), "--quiet")
    assert code == 0, stderr
    record = json.loads((out / "quantize.json").read_text())
    assert set(record["int8"]["output_ranges"]) == set(record["policy"])
    assert abs(record["int8"]["val_acc"] - record["quantized_val_acc"]) <= 0.05
    assert record["int8"]["max_abs_diff"] == pytest.approx(_difference(load_int8(out), load_quantized(out)), abs=1e-7)
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), "--method", "uniform", "--bits", "4",
                              "--calibration-images", "64", "--out", str(tmp_path / "u4"), "--quiet")
    assert code == 0 and json.loads((tmp_path / "u4" / "quantize.json").read_text())["int8"] is None
    with pytest.raises(QuantizeError, match="no int8 network"):
        load_int8(tmp_path / "u4")
