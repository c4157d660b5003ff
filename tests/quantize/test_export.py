"""The packed low-bit export: dense bit packing, and nasengine.load restoring the network bit for bit."""

from __future__ import annotations

import json
import math

import pytest
import torch

import nasengine
from nasengine.compress.source import load_source
from nasengine.quantize import (
    QuantizeError,
    QuantLayer,
    activation_stats,
    apply_policy,
    quantizable_layers,
    quantized_copy,
)
from nasengine.quantize.export import PACKED, export_quantized, pack_codes, packed_state, unpack_codes
from tests.cli_helpers import run_cli


@pytest.mark.parametrize("bits", [2, 3, 5, 8])
def test_codes_pack_densely_and_unpack_exactly(bits):
    codes = torch.randint(0, 2 ** bits, (1001,), generator=torch.Generator().manual_seed(bits))
    packed = pack_codes(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(1001 * bits / 8)
    assert torch.equal(unpack_codes(packed, bits, 1001), codes)
    with pytest.raises(ValueError, match="must lie in"):
        pack_codes(torch.tensor([2 ** bits]), bits)


def test_the_loaded_network_computes_bit_for_bit_as_the_quantized_one(capsys, export_folder, tmp_path):
    out = tmp_path / "q"
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), "--method", "haq", "--max-size", "14%",
                              "--set", "episodes=3", "--set", "warmup=1", "--finetune-epochs", "1",
                              "--calibration-images", "64", "--out", str(out), "--quiet")
    assert code == 0, stderr
    record = json.loads((out / "quantize.json").read_text())
    assert record["parity"] == {"packed": 0.0}
    weights = sum(layer["weights"] * record["policy"][layer["name"]][0] for layer in record["layers"])
    assert 0 <= record["packed_bytes"] * 8 - weights < 8 * len(record["layers"])  # at most a byte's padding per layer
    loaded = nasengine.load(out)
    modules = dict(loaded.named_modules())
    assert all(isinstance(modules[name], QuantLayer) and [modules[name].w_bits, modules[name].a_bits] == bits
               for name, bits in record["policy"].items())
    # Packing the loaded network again gives the very bytes that were saved.
    saved = torch.load(out / PACKED, weights_only=True)
    again = packed_state(loaded, list(record["policy"]))
    assert saved.keys() == again.keys() and all(torch.equal(saved[k], again[k]) for k in saved)


def test_export_and_load_from_python(export_folder, tmp_path):
    source = load_source(str(export_folder))
    data = [torch.randn(8, *source.input_shape, generator=torch.Generator().manual_seed(1))]
    layers = quantizable_layers(source.model, data[0][:2])
    stats = activation_stats(source.model, [layer.name for layer in layers], data)
    policy = [(2 + k % 7, 8 - k % 5) for k in range(len(layers))]
    quant = apply_policy(quantized_copy(source.model, layers), layers, policy, stats)
    with torch.no_grad():  # weights off the grid, as fine-tuning leaves them
        for p in quant.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(2)) * 1e-3)
    record = {"source": source.description, "input_shape": list(source.input_shape),
              "policy": {layer.name: list(bits) for layer, bits in zip(layers, policy)}}
    written = export_quantized(quant, record, tmp_path)
    loaded = nasengine.load(tmp_path)
    x = torch.randn(16, *source.input_shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert written["parity"] == {"packed": 0.0} and torch.equal(loaded(x), quant.eval()(x))
    with pytest.raises(QuantizeError, match="not quantized"):
        export_quantized(quantized_copy(source.model, layers), record, tmp_path / "bare")
