"""Measured CPU latency tables (``cpu-fp32``, ``cpu-int8``): every quantizable layer timed
alone on this machine, at the input it receives from one batch of calibration images.

``cpu-fp32`` times the float layer; ``cpu-int8`` the layer on PyTorch's int8 x86 kernels
with its input quantized and its output dequantized, as the int8 network runs it
(:mod:`nasengine.quantize.int8`). The rest of the network (normalisation, pooling, sums,
in float either way) is ``fixed_ms``: the whole float network's time less its layers'.
Each time is the median of interleaved rounds (:func:`nasengine.utils.timing.time_calls`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from nasengine.quantize.calibrate import ActivationStats
from nasengine.quantize.hardware import MAX_BITS, MEASURED, HardwareTable
from nasengine.quantize.hooks import observe
from nasengine.quantize.layers import QuantizableLayer, QuantizeError, apply_policy, quantized_copy
from nasengine.utils.timing import time_calls

__all__ = ["measure_table"]


def measure_table(hardware: str, model: nn.Module, layers: Sequence[QuantizableLayer],
                  stats: Mapping[str, ActivationStats], images: torch.Tensor, *, repeats: int = 20,
                  threads: int | None = None) -> HardwareTable:
    """The measured table of ``hardware`` (:data:`~nasengine.quantize.hardware.MEASURED`)
    for ``model``'s ``layers`` at the batch ``images`` (its size is the table's batch)."""
    from nasengine.bench.suites import machine_info
    from nasengine.quantize.int8 import int8_model, output_ranges

    if hardware not in MEASURED:
        raise QuantizeError(f"{hardware!r} is not measured here; measured: {', '.join(MEASURED)}")
    names = [layer.name for layer in layers]
    model = model.eval()
    inputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_m: nn.Module, args: tuple) -> None:
            inputs.setdefault(name, args[0].detach().clone())
        return hook

    observe(model, {model.get_submodule(n): keep(n) for n in names}, [images], pre=True)
    runner = model
    if hardware == "cpu-int8":
        fake = apply_policy(quantized_copy(model, layers), layers, [(8, 8)] * len(layers), stats)
        runner = int8_model(fake, output_ranges(fake, names, [images]))
    calls = [lambda m=runner.get_submodule(n), x=inputs[n]: m(x) for n in names]
    with torch.inference_mode():
        *layer_ms, layer_fp32_ms, whole_ms = time_calls(
            [*calls, lambda: sum(model.get_submodule(n)(inputs[n]).numel() for n in names), lambda: model(images)],
            warmup=3, repeats=repeats, alternate=True, threads=threads)
    full = [[0.0] * (MAX_BITS + 1) for _ in range(MAX_BITS + 1)]
    tables = [[[ms if w and a else 0.0 for a, _ in enumerate(row)] for w, row in enumerate(full)] for ms in layer_ms]
    kernels = "PyTorch's int8 x86 kernels" if hardware == "cpu-int8" else "float32"
    return HardwareTable(hardware, "measured", f"measured on this machine: each layer alone in {kernels} at batch "
                                               f"{len(images)}, median of {repeats} interleaved rounds; every bit "
                                               "pair costs the same (no faster kernel below 8 bits)",
                         len(images), names, tables, max(whole_ms - layer_fp32_ms, 0.0), machine_info())
