"""The packed low-bit form of a quantized network: ``packed.pt`` next to ``quantize.json``.

Each quantized layer's weights are stored as their integer codes at the layer's weight
bits, packed densely into bytes (``{name}.weight.codes``: ``ceil(n * bits / 8)`` bytes for
``n`` weights; codes offset to ``0 .. 2^bits - 2``), with their float32 per-channel scales
(``{name}.weight_scale``) and the input's scale and zero point; every other tensor of the
state dict (biases, normalisation) is stored as it is. The file holds tensors only, so it
loads with ``torch.load(weights_only=True)`` and runs no code.

``nasengine.load(folder)`` rebuilds the source network from its code (an arch of a space,
a torchvision or timm name, as for ``nasengine compress``), makes the recorded layers
fake-quantizing at the recorded bits, and sets each weight to ``code * scale`` with the
scale frozen: the restored network computes bit for bit what the exported one computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from nasengine.quantize.fake import QuantLayer, weight_scales
from nasengine.quantize.layers import QuantizeError, quantized_copy
from nasengine.utils.files import save_atomic, save_json_atomic
from nasengine.utils.safe_load import load_checkpoint

__all__ = ["PACKED", "export_quantized", "load_int8", "load_quantized", "pack_codes", "unpack_codes"]

PACKED = "packed.pt"
RECORD = "quantize.json"


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned integer ``codes`` (each below ``2^bits``) packed densely, ``bits`` bits each,
    into a uint8 tensor of ``ceil(len * bits / 8)`` bytes (least significant bit first)."""
    flat = codes.reshape(-1).to(torch.int64).numpy()
    if flat.size and (flat.min() < 0 or flat.max() >= 2 ** bits):
        raise ValueError(f"codes must lie in [0, {2 ** bits - 1}] to pack at {bits} bits")
    planes = (flat[:, None] >> np.arange(bits)) & 1
    return torch.from_numpy(np.packbits(planes.astype(np.uint8).reshape(-1), bitorder="little"))


def unpack_codes(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """The ``count`` codes of :func:`pack_codes`, as int64."""
    planes = np.unpackbits(packed.numpy(), count=count * bits, bitorder="little").reshape(count, bits)
    return torch.from_numpy(planes.astype(np.int64) @ (1 << np.arange(bits, dtype=np.int64)))


def _layer_state(module: QuantLayer) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's weight codes (signed) and scales, as its forward quantizes them."""
    assert module.w_bits is not None
    scales = module.weight_scale if module.weight_scale is not None else weight_scales(module.weight, module.w_bits)
    with torch.no_grad():
        quantized = module.quantized_weight()
        shape = (-1,) + (1,) * (quantized.dim() - 1)
        codes = torch.round(quantized / scales.view(shape)).to(torch.int64)
        if not torch.equal(codes.to(torch.float32) * scales.view(shape), quantized):
            raise RuntimeError(f"the weights of a {type(module).__name__} are not codes times scales")
    return codes, scales.to(torch.float32)


def packed_state(model: nn.Module, layers: list[str]) -> dict[str, torch.Tensor]:
    """The tensors of ``packed.pt`` for ``model`` (fake-quantized with ``layers``)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for name in layers:
        module = model.get_submodule(name)
        if not isinstance(module, QuantLayer) or module.w_bits is None or module.a_bits is None:
            raise QuantizeError(f"layer {name!r} is not quantized; export a network with a policy applied")
        codes, scales = _layer_state(module)
        levels = 2 ** (module.w_bits - 1) - 1
        del state[f"{name}.weight"]
        state[f"{name}.weight.codes"] = pack_codes(codes + levels, module.w_bits)
        state[f"{name}.weight_scale"] = scales
    return state


def export_quantized(model: nn.Module, record: Mapping[str, Any], folder: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Write ``packed.pt`` and ``quantize.json`` (``record``, with ``packed_bytes`` and the
    ``parity`` of the restored network) into ``folder``; returns the record as written.

    Raises:
        QuantizeError: The restored network does not reproduce ``model`` bit for bit.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    layers = list(record["policy"])
    state = packed_state(model, layers)
    save_atomic(state, folder / PACKED)
    record = {**record, "packed_bytes": sum(state[f"{n}.weight.codes"].numel() for n in layers)}
    restorable = record["source"].get("kind") in ("export", "arch", "torchvision", "timm")
    if restorable:
        x = torch.randn((2, *record["input_shape"]), generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            diff = float((restore(record, state)(x) - model(x)).abs().max())
        record["parity"] = {"packed": diff}
        if diff != 0.0:
            save_json_atomic(record, folder / RECORD)
            raise QuantizeError(f"the packed network does not reproduce the quantized one: max abs difference {diff:.3g}")
    save_json_atomic(record, folder / RECORD)
    return record


def restore(record: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> nn.Module:
    """The quantized network of ``record`` with the tensors of ``packed.pt``, in eval mode."""
    from nasengine.compress.rebuild import skeleton

    try:
        model = skeleton(record["source"]).eval()
    except ValueError as exc:
        raise QuantizeError(str(exc)) from None
    policy = record["policy"]
    model = quantized_copy(model, policy)
    state = dict(state)
    for name, (w_bits, a_bits) in policy.items():
        module = model.get_submodule(name)
        assert isinstance(module, QuantLayer)
        scales = state[f"{name}.weight_scale"]
        count = module.weight.numel()
        codes = unpack_codes(state.pop(f"{name}.weight.codes"), int(w_bits), count) - (2 ** (int(w_bits) - 1) - 1)
        shape = (-1,) + (1,) * (module.weight.dim() - 1)
        state[f"{name}.weight"] = (codes.to(torch.float32).view_as(module.weight) * scales.view(shape))
        module.w_bits, module.a_bits = int(w_bits), int(a_bits)
        module.freeze_weight_scale(scales)
    model.load_state_dict(state)
    return model.eval()


def load_quantized(folder: str | Path) -> nn.Module:
    """The quantized network in ``folder`` (``quantize.json`` + ``packed.pt``), in eval mode."""
    from nasengine.records.base import read_json

    folder = Path(folder)
    return restore(read_json(folder / RECORD), load_checkpoint(folder / PACKED, what="packed quantized weights"))


def load_int8(folder: str | Path) -> nn.Module:
    """The int8 network of ``folder`` (a quantization with every layer at 8 bits): the
    packed network converted with the output ranges recorded in ``quantize.json``.

    Raises:
        QuantizeError: The folder's policy has layers below 8 bits.
    """
    from nasengine.quantize.int8 import int8_model
    from nasengine.records.base import read_json

    folder = Path(folder)
    record = read_json(folder / RECORD)
    if not record.get("int8"):
        raise QuantizeError(f"{str(folder)!r} holds no int8 network: its policy has layers below 8 bits")
    return int8_model(load_quantized(folder), record["int8"]["output_ranges"])
