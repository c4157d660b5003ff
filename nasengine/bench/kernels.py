"""``nasengine bench kernels``: fused Triton gating ops against the unfused PyTorch sequence.

Every row times one op at one realistic size: ``ref_ms`` is the plain PyTorch reference
(what an eager model runs without the kernels), ``fused_ms`` the Triton kernel, ``speedup``
their ratio, measured in the same process and the same rounds. On GPU, CUDA events time a
loop of calls.
Without CUDA there is no compiled Triton (the interpreter is a debugging tool, not a fast
path), so the rows hold the reference timing only, ``fused_ms`` and ``speedup`` are null and
``fused`` says why; only the smaller cases run there.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Callable

import torch

from nasengine.bench.base import BenchSuite
from nasengine.kernels import dispatch, reference
from nasengine.utils.devices import resolve_device
from nasengine.utils.timing import time_calls

# (N, C, H=W): batch 64-256, channels 64-512, spatial 7x7-56x56.
FEATURE_SHAPES = [(256, 64, 56), (64, 64, 56), (256, 128, 28), (128, 256, 14), (256, 512, 7),
                  (64, 512, 8)]
GATE_CASES = [("argmax", 8, torch.float16), ("straight_through", 1, torch.float16),
              ("argmax", 8, torch.float32)]
EPILOGUE_CASES = [("inference", torch.float16), ("training", torch.float16),
                  ("training_fwd_bwd", torch.float16), ("training_fwd_bwd", torch.float32)]
BUCKET_CASES = [(64, 2), (256, 4), (256, 16)]
SHAPE_KEYS = ("N", "C", "H", "W", "hidden", "actions", "routes")  # every row has them all
CPU_MAX_ELEMENTS = 2 ** 22  # CPU rows: reference only, small feature maps


def _device(args: argparse.Namespace) -> torch.device:
    return resolve_device(getattr(args, "device", "auto") or "auto", allow_auto=True)


def time_pair(ref: Callable[[], Any], fused: Callable[[], Any] | None, device: torch.device,
              repeats: int) -> list[float]:
    """Milliseconds per call of ``ref`` (and ``fused``): 3 warm-up calls, then the best of
    3 rounds of ``repeats`` back-to-back calls, both ops in the same rounds; CUDA events on GPU."""
    calls = [ref] if fused is None else [ref, fused]
    return time_calls(calls, warmup=3, repeats=3, number=repeats, device=device,
                      clock="event" if device.type == "cuda" else "wall", statistic="min")


def _row(op: str, device: torch.device, dtype: torch.dtype, shape: dict[str, Any],
         ref: Callable[[], Any], fused: Callable[[], Any], repeats: int) -> dict[str, Any]:
    on_gpu = device.type == "cuda"
    times = time_pair(ref, fused if on_gpu else None, device, repeats)
    row = {"op": op, "device": device.type, "dtype": str(dtype).removeprefix("torch."),
           **{key: shape.get(key) for key in SHAPE_KEYS}, "ref_ms": round(times[0], 4)}
    if not on_gpu:
        return {**row, "fused_ms": None, "speedup": None, "fused": "unavailable: needs CUDA"}
    return {**row, "fused_ms": round(times[1], 4), "speedup": round(times[0] / times[1], 2),
            "fused": dispatch.kernel_backend(torch.empty(0, device=device))}


def _fits(device: torch.device, *sizes: int) -> bool:
    return device.type == "cuda" or math.prod(sizes) <= CPU_MAX_ELEMENTS


def gate_rows(device: torch.device, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for n, c, hw in FEATURE_SHAPES:
        if not _fits(device, n, c, hw, hw):
            continue
        hidden = min(128, c)
        for mode, actions, dtype in GATE_CASES:
            x = torch.randn(n, c, hw, hw, device=device, dtype=dtype)
            weights = (torch.randn(hidden, c, device=device) / c ** 0.5, torch.zeros(hidden, device=device),
                       torch.randn(actions, hidden, device=device) / hidden ** 0.5,
                       torch.zeros(actions, device=device))
            with torch.no_grad():
                rows.append(_row(
                    f"gate_head[{mode}]", device, dtype,
                    dict(N=n, C=c, H=hw, W=hw, hidden=hidden, actions=actions),
                    lambda: reference.gate_head(x, *weights, mode=mode),
                    lambda: dispatch.gate_head(x, *weights, mode=mode), repeats))
    return rows


def epilogue_rows(device: torch.device, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for n, c, hw in FEATURE_SHAPES:
        if not _fits(device, n, c, hw, hw):
            continue
        for variant, dtype in EPILOGUE_CASES:
            training = variant != "inference"
            backward = variant == "training_fwd_bwd"
            y = torch.randn(n, c, hw, hw, device=device, dtype=dtype, requires_grad=backward)
            # Runtime pruning keeps between a quarter and all of the channels.
            widths = torch.randint(c // 4, c + 1, (n,), device=device)
            weight = torch.rand(c, device=device, requires_grad=backward) + 0.5
            bias = torch.randn(c, device=device, requires_grad=backward)
            stats = (torch.zeros(c, device=device), torch.ones(c, device=device))
            grad = torch.randn(n, c, hw, hw, device=device, dtype=dtype)

            def step(fn: Callable) -> Callable[[], None]:
                def run() -> None:
                    with torch.set_grad_enabled(backward):
                        out = fn(y, widths, weight=weight, bias=bias, running_mean=stats[0],
                                 running_var=stats[1], training=training)
                        if backward:
                            out.backward(grad)
                return run

            rows.append(_row(f"prefix_epilogue[{variant}]", device, dtype,
                             dict(N=n, C=c, H=hw, W=hw), step(reference.prefix_epilogue),
                             step(dispatch.prefix_epilogue), repeats))
    return rows


def bucket_rows(device: torch.device, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for n, routes in BUCKET_CASES:
        ids = torch.randint(0, routes, (n,), device=device)
        rows.append(_row("route_buckets", device, torch.int64, dict(N=n, routes=routes),
                         lambda: reference.route_buckets(ids, routes),
                         lambda: dispatch.route_buckets(ids, routes), repeats))
        c, hw = 128, 14
        outputs = torch.randn(n, c, hw, hw, device=device, dtype=torch.float16)
        buckets = reference.route_buckets(ids, routes)
        rows.append(_row("unbucket", device, torch.float16, dict(N=n, C=c, H=hw, W=hw, routes=routes),
                         lambda: reference.unbucket(outputs, buckets),
                         lambda: dispatch.unbucket(outputs, buckets), repeats))
    return rows


def bench_kernels(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Fused vs unfused gate head, prefix epilogue and route bucketing."""
    device = _device(args)
    repeats = args.repeats
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    if device.type != "cuda":
        print("kernels: no CUDA device, so no compiled Triton: timing the reference only "
              "(fused_ms/speedup null) on the smaller cases")
    torch.manual_seed(0)
    return gate_rows(device, repeats) + epilogue_rows(device, repeats) + bucket_rows(device, repeats)


def _kernels_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--repeats", type=int, default=20, help="calls per timing")


KERNELS_SUITE = BenchSuite(help="fused Triton gating ops vs the unfused PyTorch sequence",
                           add_arguments=_kernels_arguments, run=bench_kernels)
