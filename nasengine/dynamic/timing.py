"""Wall-clock comparison of a dynamic network with its dense backbone.

Both run on the same images, interleaved in one process (dense, dynamic, dynamic, dense,
...: ``nasengine.utils.timing.time_calls`` with ``alternate``), after warm-up; the median
over repeats is reported, so a noisy machine slows both alike.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from nasengine.dynamic.layers import INFERENCE_LAYOUT
from nasengine.utils.timing import time_calls


def _in_layout(images: torch.Tensor, layout: torch.memory_format) -> torch.Tensor:
    """Images (``[N, C, H, W]``) in ``layout``; clips (``[N, T, C, H, W]``) stay contiguous,
    the networks fold their frames into the batch."""
    return images.contiguous(memory_format=layout) if images.dim() == 4 else images.contiguous()


def _layouts(net: nn.Module, images: torch.Tensor) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """``net`` and ``images`` in NCHW and in channels-last (a copy of ``net``)."""
    nhwc = copy.deepcopy(net).to(memory_format=torch.channels_last)
    return {"nchw": (net, images.contiguous()), "nhwc": (nhwc, _in_layout(images, torch.channels_last))}


@torch.inference_mode()
def compare_speed(model: nn.Module, dense: nn.Module, images: torch.Tensor, batch: int, *, repeats: int = 7,
                  warmup: int = 2) -> dict[str, Any]:
    """Time ``model`` and ``dense`` over ``images`` in batches of ``batch``.

    The dense network is timed in both memory layouts and the faster one is the baseline
    (``dense_layout``), so no speedup comes from a layout the baseline was denied.

    Returns:
        Per-image milliseconds of both, speedup (dense time / dynamic time), and the
        MAC reduction of the timed images (dense MACs / mean dynamic MACs). At batch 1 also
        the time of each image through the plain static network of its route: the speedup
        a dynamic network could reach with no decision or bucketing overhead at all.
    """
    if images.shape[0] < batch:
        raise ValueError(f"need at least {batch} images to time batch {batch}, got {images.shape[0]}")
    model.eval()
    dense.eval()
    usable = _in_layout(images[: images.shape[0] - images.shape[0] % batch], INFERENCE_LAYOUT)
    batches = list(usable.split(batch))
    count = usable.shape[0]

    def run(net: nn.Module, inputs: torch.Tensor) -> Callable[[], None]:
        chunks = list(inputs.split(batch))
        return lambda: [net(b) for b in chunks]

    routes = torch.cat([model.execute(b, return_route=True)[1] for b in batches])
    fns = {f"dense_{name}": run(net, inputs) for name, (net, inputs) in _layouts(dense, usable).items()}
    fns["dynamic"] = run(model, usable)
    if batch == 1:
        # Zero-overhead reference: each image through the plain network of its own route.
        statics: dict[tuple[int, ...], nn.Module] = {}
        for route in routes.tolist():
            key = tuple(route)
            if key not in statics:
                statics[key] = model.static_network(route).to(images.device, memory_format=INFERENCE_LAYOUT)
        pairs = [(statics[tuple(r)], b) for r, b in zip(routes.tolist(), batches)]
        fns["static"] = lambda: [net(b) for net, b in pairs]
    # Milliseconds per image of each function (one call runs every image).
    ms = dict(zip(fns, (t / count for t in time_calls(list(fns.values()), warmup=warmup, repeats=repeats,
                                                       device=images.device, alternate=True))))
    layout = min(("nchw", "nhwc"), key=lambda name: ms[f"dense_{name}"])
    dense_ms = ms[f"dense_{layout}"]
    mac_reduction = model.dense_macs() / model.route_macs(routes).float().mean().item()
    speedup = dense_ms / ms["dynamic"]
    report = {"batch": batch, "images": count, "dense_ms": dense_ms, "dense_layout": layout,
              "dense_nchw_ms": ms["dense_nchw"], "dense_nhwc_ms": ms["dense_nhwc"], "dynamic_ms": ms["dynamic"],
              "mac_reduction": mac_reduction, "speedup": speedup, "efficiency": speedup / mac_reduction}
    if "static" in ms:
        report["static_route_ms"] = ms["static"]
        report["static_route_speedup"] = dense_ms / ms["static"]
    return report


def speed_report(model: nn.Module, images: torch.Tensor, batch: int, *, repeats: int = 7,
                 warmup: int = 2) -> dict[str, Any]:
    """``compare_speed`` against the model's own dense backbone (every group / block, BN
    folded into the convs, the faster memory layout: the fastest plain version of the same
    network)."""
    dense = model.static_network(model.full_route(), fold_bn=True).to(images.device)
    return compare_speed(model, dense, images, batch, repeats=repeats, warmup=warmup)
