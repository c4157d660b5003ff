"""Wall-clock comparison of a dynamic network with its dense backbone.

Both run on the same images, interleaved in one process (dense, dynamic, dynamic, dense,
...), after warm-up; the median over repeats is reported, so a noisy machine slows both
alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
from torch import nn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(fns: dict[str, Callable[[], Any]], *, repeats: int, warmup: int,
                     device: torch.device) -> dict[str, float]:
    """Median seconds of each function, alternating their order every repeat."""
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        for name in names if r % 2 == 0 else reversed(names):
            _sync(device)
            t0 = time.perf_counter()
            fns[name]()
            _sync(device)
            if r >= warmup:
                samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in samples.items()}


@torch.inference_mode()
def compare_speed(model: nn.Module, dense: nn.Module, images: torch.Tensor, batch: int, *, repeats: int = 7,
                  warmup: int = 2) -> dict[str, Any]:
    """Time ``model`` and ``dense`` over ``images`` in batches of ``batch``.

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
    batches = [images[i: i + batch] for i in range(0, images.shape[0] - batch + 1, batch)]
    count = sum(b.shape[0] for b in batches)

    def run(net: nn.Module) -> Callable[[], None]:
        return lambda: [net(b) for b in batches]

    routes = torch.cat([model.execute(b, return_route=True)[1] for b in batches])
    fns = {"dense": run(dense), "dynamic": run(model)}
    if batch == 1:
        # Zero-overhead reference: each image through the plain network of its own route.
        statics: dict[tuple[int, ...], nn.Module] = {}
        for route in routes.tolist():
            statics.setdefault(tuple(route), model.static_network(route).to(images.device))
        pairs = [(statics[tuple(r)], b) for r, b in zip(routes.tolist(), batches)]
        fns["static"] = lambda: [net(b) for net, b in pairs]
    seconds = time_interleaved(fns, repeats=repeats, warmup=warmup, device=images.device)
    mac_reduction = model.dense_macs() / model.route_macs(routes).float().mean().item()
    speedup = seconds["dense"] / seconds["dynamic"]
    report = {"batch": batch, "images": count, "dense_ms": 1e3 * seconds["dense"] / count,
              "dynamic_ms": 1e3 * seconds["dynamic"] / count, "mac_reduction": mac_reduction, "speedup": speedup,
              "efficiency": speedup / mac_reduction}
    if "static" in seconds:
        report["static_route_ms"] = 1e3 * seconds["static"] / count
        report["static_route_speedup"] = seconds["dense"] / seconds["static"]
    return report


def speed_report(model: nn.Module, images: torch.Tensor, batch: int, *, repeats: int = 7,
                 warmup: int = 2) -> dict[str, Any]:
    """``compare_speed`` against the model's own dense backbone (every group / block, BN
    folded into the convs: the fastest plain version of the same network)."""
    dense = model.static_network(model.full_route(), fold_bn=True).to(images.device)
    return compare_speed(model, dense, images, batch, repeats=repeats, warmup=warmup)
