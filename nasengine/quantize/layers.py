"""The layers a quantization policy decides, and the network with them fake-quantized.

Every ``nn.Conv2d`` and ``nn.Linear`` that a forward pass runs is quantizable, in the
order of its first call (HAQ's order: its environment walks the quantizable modules in
order). A policy gives each of them ``(weight bits, activation bits)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from nasengine.cost import layer_macs
from nasengine.quantize.calibrate import ActivationStats
from nasengine.quantize.fake import QuantConv2d, QuantLayer, QuantLinear
from nasengine.quantize.hooks import observe

__all__ = ["Policy", "QuantizableLayer", "QuantizeError", "apply_policy", "quantizable_layers", "quantized_copy"]

#: ``(weight bits, activation bits)`` per quantizable layer, in their order.
Policy = Sequence[tuple[int, int]]


class QuantizeError(ValueError):
    """A network or a request that cannot be quantized; printed as one line by the CLI."""


@dataclass(frozen=True)
class QuantizableLayer:
    """One Conv2d / Linear of the network, as the policy and the cost models see it.

    Attributes:
        index: Position in forward order.
        name: Module name.
        kind: ``"conv"`` or ``"linear"``.
        in_channels: Input channels (features).
        out_channels: Output channels (features).
        kernel: Kernel side (1 for a linear layer).
        stride: Stride (1 for a linear layer).
        depthwise: Whether it is a depthwise convolution.
        feature_size: Pixels of its input feature map (1 for a linear layer).
        weights: Elements of its weight tensor.
        macs: Its multiply-accumulates per image.
    """

    index: int
    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    depthwise: bool
    feature_size: int
    weights: int
    macs: int


def quantizable_layers(model: nn.Module, example: torch.Tensor) -> list[QuantizableLayer]:
    """The Conv2d / Linear layers that one eval forward of ``example`` runs, in order.

    Raises:
        QuantizeError: There is none.
    """
    names = {m: n for n, m in model.named_modules()}
    found: dict[nn.Module, QuantizableLayer] = {}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if module in found:
            return
        x = inputs[0]
        macs = layer_macs(module, x, output) // max(1, x.shape[0])
        _check_whole(names[module], module, x, output)
        if isinstance(module, nn.Conv2d):
            found[module] = QuantizableLayer(
                len(found), names[module], "conv", module.in_channels, module.out_channels, module.kernel_size[0],
                module.stride[0], 1 < module.groups == module.in_channels, int(x.shape[-2] * x.shape[-1]),
                module.weight.numel(), macs)
        else:
            found[module] = QuantizableLayer(len(found), names[module], "linear", module.in_features,  # type: ignore[arg-type]
                                             module.out_features, 1, 1, False, 1, module.weight.numel(), macs)  # type: ignore[arg-type]

    quantizable = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and not isinstance(m, QuantLayer)]
    observe(model, {m: hook for m in quantizable}, [example])
    if not found:
        raise QuantizeError("the model has no Conv2d or Linear layer to quantize")
    return list(found.values())


def _check_whole(name: str, module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
    """Refuse a layer that runs a slice of its weights (an elastic layer of a supernet at a
    smaller width or kernel): its fake-quantized copy runs the whole weight tensor."""
    if isinstance(module, nn.Conv2d):
        whole = (x.shape[1], out.shape[1]) == (module.in_channels, module.out_channels)
        whole = whole and getattr(module, "active_kernel", module.kernel_size[0]) == module.kernel_size[0]
    else:
        whole = (x.shape[-1], out.shape[-1]) == (module.in_features, module.out_features)
    if not whole:
        raise QuantizeError(f"layer {name!r} runs a slice of its weights (a supernet layer at a smaller width or "
                            "kernel); quantize a network built at its architecture")


def quantized_copy(model: nn.Module, layers: Iterable[QuantizableLayer | str]) -> nn.Module:
    """A deep copy of ``model`` whose ``layers`` (or layers of these names) are
    fake-quantizing modules (left in floating point until :func:`apply_policy`)."""
    model = copy.deepcopy(model)
    for layer in layers:
        name = layer if isinstance(layer, str) else layer.name
        module = model.get_submodule(name)
        q = QuantConv2d.from_float(module) if isinstance(module, nn.Conv2d) else QuantLinear.from_float(module)  # type: ignore[arg-type]
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, q)
    return model


def apply_policy(model: nn.Module, layers: Sequence[QuantizableLayer], policy: Policy,
                 stats: Mapping[str, ActivationStats], clip: str = "kl") -> nn.Module:
    """Set ``model``'s (a :func:`quantized_copy`) bits to ``policy``, with each input's
    clipping range from ``stats`` for its activation bits, chosen by ``clip``
    (``nasengine.quantize.calibrate.CLIPS``); returns ``model``."""
    if len(policy) != len(layers):
        raise ValueError(f"the policy has {len(policy)} entries; the model has {len(layers)} quantizable layers")
    with torch.no_grad():
        for layer, (w, a) in zip(layers, policy):
            module = model.get_submodule(layer.name)
            if not isinstance(module, QuantLayer):
                raise ValueError(f"layer {layer.name!r} is not fake-quantizing; make the model with quantized_copy")
            module.set_bits(int(w), int(a), stats[layer.name].clip_range(int(a), clip))
    return model
