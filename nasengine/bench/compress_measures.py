"""What ``bench compress`` measures on one network: the plain digits backbones it compresses,
the feature-map reconstruction error of single pruned layers, and the wall-clock speedup of
a compressed network over its source."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from nasengine.compress.layers import LayerInfo
from nasengine.compress.prune import prune_to_ratios
from nasengine.dynamic import BackboneConfig, GatedConfig, GatedNetwork, RNPConfig, RNPNetwork
from nasengine.utils.timing import time_calls

#: Layouts of the two backbones (the dynamic suite's VGG-16 at a quarter width, and ResNet-20).
BACKBONE_WIDTHS: dict[str, tuple[int, ...]] = {"vgg": (16, 32, 64, 128, 128), "resnet": (16, 32, 64)}


def plain_backbone(kind: str, width_mult: float = 1.0, *, image_channels: int = 3) -> nn.Sequential:
    """The plain (static) network of the dynamic methods' ``kind`` backbone at 32x32: every
    channel group / block computed, Conv2d + BatchNorm2d layers, freshly initialised."""
    widths = tuple(max(2, int(round(w * width_mult))) for w in BACKBONE_WIDTHS[kind])
    backbone = BackboneConfig.default(kind, in_channels=image_channels, widths=widths)
    network = (RNPNetwork(RNPConfig(backbone)) if kind == "vgg"
               else GatedNetwork(GatedConfig(backbone, method="skipnet")))
    return network.static_network(network.full_route(), fold_bn=False).train()


def _consumer_names(source: nn.Module, pruned: nn.Module) -> list[str]:
    """Layers of ``pruned`` that lost input channels (the consumers of what was pruned)."""
    before = dict(source.named_modules())
    names = []
    for name, module in pruned.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels < before[name].in_channels:  # type: ignore[union-attr]
            names.append(name)
        elif isinstance(module, nn.Linear) and module.in_features < before[name].in_features:  # type: ignore[union-attr]
            names.append(name)
    return names


@torch.no_grad()
def _outputs(model: nn.Module, names: Sequence[str], images: torch.Tensor) -> dict[str, torch.Tensor]:
    found: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = [modules[n].register_forward_hook(lambda m, a, out, n=n: found.__setitem__(n, out.detach()))
               for n in names]
    try:
        model.eval()(images)
    finally:
        for h in handles:
            h.remove()
    return found


def relative_error(output: torch.Tensor, target: torch.Tensor) -> float:
    """``||output - target|| / ||target||`` (Frobenius norms)."""
    return float((output - target).norm() / target.norm().clamp_min(1e-12))


def reconstruction_errors(source: nn.Module, example: torch.Tensor, layers: Iterable[LayerInfo], ratio: float,
                          calibration: Sequence[torch.Tensor], held_out: torch.Tensor,
                          seed: int = 0) -> dict[str, dict[str, float]]:
    """Each of ``layers`` pruned alone to preserve ratio ``ratio``, two ways: channels by L1
    norm, weights kept (``l1``), and channels by LASSO with the consumers refit by least
    squares on ``calibration`` (``lasso``). The figure is the relative error of the
    consumers' outputs against the source's on ``held_out`` images (their mean when a layer
    has several consumers).

    Returns:
        ``{layer name: {"l1": error, "lasso": error}}``.
    """
    errors: dict[str, dict[str, float]] = {}
    for layer in layers:
        ratios = {layer.name: ratio}
        pruned = {"l1": prune_to_ratios(source, example, ratios, selection="l1"),
                  "lasso": prune_to_ratios(source, example, ratios, selection="lasso", calibration=calibration,
                                           reconstruct=True, seed=seed)}
        consumers = _consumer_names(source, pruned["l1"])
        if not consumers:
            continue
        target = _outputs(source, consumers, held_out)
        errors[layer.name] = {}
        for how, model in pruned.items():
            got = _outputs(model, consumers, held_out)
            errors[layer.name][how] = sum(relative_error(got[n], target[n]) for n in consumers) / len(consumers)
    return errors


def measured_speedups(source: nn.Module, compressed: Mapping[str, nn.Module], images: torch.Tensor,
                      batches: Sequence[int], *, repeats: int, warmup: int = 2) -> dict[str, dict[int, float]]:
    """Speedup (source time / compressed time) of each ``compressed`` network at each batch
    size: the source and every compressed network are timed in the same rounds (order
    reversed every other round), median of ``repeats``, over the same ``images`` (the first
    32, or two batches, whichever is more)."""
    nets = [source, *compressed.values()]
    for net in nets:
        net.eval()
    speedups: dict[str, dict[int, float]] = {name: {} for name in compressed}
    for batch in batches:
        if images.shape[0] < batch:
            raise ValueError(f"need at least {batch} images to time batch {batch}, got {images.shape[0]}")
        count = min(images.shape[0], max(2 * batch, 32))  # batch 1: 32 calls; 64: two batches
        chunks = list(images[: count - count % batch].split(batch))

        def call(net: nn.Module) -> object:
            return lambda: [net(x) for x in chunks]

        with torch.inference_mode():
            ms = time_calls([call(n) for n in nets], warmup=warmup, repeats=repeats, alternate=True)
        for name, t in zip(compressed, ms[1:]):
            speedups[name][batch] = ms[0] / t
    return speedups
