"""Cost of networks: MACs of Conv2d + Linear (multiply-adds) and parameter counts.

Two counters with different machinery so that one checks the other:

* ``count_cost`` traces a real forward pass with fvcore (the reference).
* ``trace_cost`` runs a forward pass on the ``meta`` device with hooks on ``Conv2d`` and
  ``Linear``; it allocates nothing and is what spaces use to fill their lookup tables.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

#: fvcore operator names that stand for Conv2d and Linear layers.
_FVCORE_KEYS = ("conv", "linear", "addmm", "mm", "matmul")


@dataclass(frozen=True, order=True)
class Cost:
    """Multiply-accumulate operations for one input image, and parameters."""

    macs: int = 0
    params: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.params + other.params)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.macs - other.macs, self.params - other.params)

    def to_dict(self) -> dict[str, int]:
        return {"macs": self.macs, "params": self.params}

    def __str__(self) -> str:
        return f"{human(self.macs)} MACs, {human(self.params)} params"


def human(n: float) -> str:
    """``1234567 -> '1.23M'``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}".rstrip("0").rstrip(".") + unit
    return str(int(n))


def parse_amount(text: str | float | int) -> float:
    """``'300M' -> 3e8``, ``'3.5m' -> 3.5e6``, ``'2K' -> 2000``; plain numbers pass through."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip()
        scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(s[-1:].lower(), 1.0)
        number = s[:-1] if scale != 1.0 else s
        try:
            value = float(number) * scale
        except ValueError:
            raise ValueError(f"{text!r} is not an amount; use a number with an optional K/M/G suffix, "
                             "e.g. 300M") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite amount; use a number with an optional K/M/G suffix, e.g. 300M")
    if value < 0:
        raise ValueError(f"{text!r} is negative; amounts must be >= 0")
    return value


def count_params(model: nn.Module) -> int:
    """Number of distinct parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def count_cost(model: nn.Module, input_shape: Sequence[int]) -> Cost:
    """MACs per image of Conv2d + Linear (fvcore's count) and parameters of any module.

    Args:
        model: Any ``nn.Module`` taking one image tensor.
        input_shape: ``(N, C, H, W)`` or ``(C, H, W)``; MACs are divided by N.
    """
    with warnings.catch_warnings():  # fvcore's import touches deprecated torch.jit APIs
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = FlopCountAnalysis(model, torch.zeros(shape, device=device))
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            by_op = analysis.by_operator()
    finally:
        model.train(was_training)
    macs = sum(v for k, v in by_op.items() if k in _FVCORE_KEYS)
    return Cost(int(macs) // shape[0], count_params(model))


def trace_cost(module: nn.Module, input_shape: Sequence[int]) -> Cost:
    """MACs per image of Conv2d + Linear, counted by hooks during a ``meta``-device forward.

    ``module`` may live on any device; it is copied to ``meta`` (no memory, no compute).
    Extra positional inputs are not supported: wrap multi-input modules.
    """
    meta = _to_meta(module)
    shape = tuple(input_shape)
    total = 0

    def hook(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += layer_macs(layer, inputs[0], output)

    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            meta.eval()(torch.empty(shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return Cost(total // shape[0], count_params(module))


def layer_macs(layer: nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    """MACs of one Conv2d / Linear call given its input and output (whole batch)."""
    if isinstance(layer, nn.Conv2d):
        groups = layer.groups
        weight = getattr(layer, "weight")
        # Elastic convs slice their weight; the executed shape is what the output implies.
        in_per_group = x.shape[1] // _executed_groups(layer, x)
        return out.numel() * in_per_group * weight.shape[2] * weight.shape[3] if groups else 0
    if isinstance(layer, nn.Linear):
        return out.numel() * x.shape[-1]
    return 0


def _executed_groups(layer: nn.Conv2d, x: torch.Tensor) -> int:
    if layer.groups == 1:
        return 1
    if layer.groups == layer.in_channels:  # depthwise: groups follow the (maybe sliced) input
        return x.shape[1]
    return layer.groups


def _to_meta(module: nn.Module) -> nn.Module:
    import copy

    if all(p.device.type == "meta" for p in module.parameters()):
        return module
    return copy.deepcopy(module).to("meta")
