"""Public gating ops: Triton kernels for CUDA tensors, the PyTorch reference elsewhere.

``NASENGINE_KERNELS=auto|triton|reference`` (read at every call) forces a backend; Triton on
CPU tensors runs in Triton's interpreter and needs ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch

from nasengine.kernels import reference
from nasengine.kernels.loader import triton_available
from nasengine.kernels.results import (
    Buckets,
    GateOutput,
    check_epilogue_args,
    check_gate_args,
    check_route_args,
    check_route_counts,
)

BACKENDS = ("auto", "triton", "reference")
ENV_BACKEND = "NASENGINE_KERNELS"


def requested_backend() -> str:
    """The backend named by ``NASENGINE_KERNELS`` (default "auto")."""
    value = os.environ.get(ENV_BACKEND, "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"{ENV_BACKEND}={value!r} is not one of {BACKENDS}")
    return value


def interpreter_enabled() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def kernel_backend(t: torch.Tensor) -> str:
    """"triton" or "reference": the implementation the ops use for tensors like ``t``."""
    requested = requested_backend()
    if requested == "reference":
        return "reference"
    if requested == "auto":
        return "triton" if t.is_cuda and triton_available() else "reference"
    if not triton_available():
        raise ValueError(f"{ENV_BACKEND}=triton but the triton package is not installed")
    if not t.is_cuda and not interpreter_enabled():
        raise ValueError(f"{ENV_BACKEND}=triton on {t.device.type} tensors needs TRITON_INTERPRET=1 "
                         "(Triton's interpreter); compiled Triton kernels need CUDA tensors")
    return "triton"


def use_interpreter(t: torch.Tensor) -> bool:
    """Interpreted kernels for non-CUDA tensors, and on CUDA when TRITON_INTERPRET=1 asks so."""
    return not t.is_cuda or interpreter_enabled()


def gate_head(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
              b2: torch.Tensor, *, mode: str = "argmax", threshold: float = 0.5, tau: float = 1.0,
              noise: torch.Tensor | None = None) -> GateOutput:
    """Global average pool -> FC -> ReLU -> FC -> per-sample decision.

    Args:
        x: ``[N, C, H, W]`` feature map or ``[N, C]`` already pooled.
        w1, b1: first FC, ``[Hd, C]`` and ``[Hd]``.
        w2, b2: second FC, ``[A, Hd]`` and ``[A]``.
        mode: "argmax" (Q-values / policy), "sigmoid" (A == 1, decision = prob > threshold),
            "straight_through" (sigmoid gate, probs = hard value with soft gradient) or
            "gumbel" (argmax of ``(scores + noise) / tau``, probs = straight-through one-hot
            with the gradient of ``softmax((scores + noise) / tau)``).
        threshold: sigmoid threshold of the sigmoid modes.
        tau: Gumbel temperature.
        noise: ``[N, A]`` Gumbel samples; None draws them from torch's RNG.

    Returns:
        GateOutput; ``scores`` and ``probs`` are differentiable in x and all weights.
    """
    check_gate_args(x, w1, b1, w2, b2, mode, tau, noise)
    if mode == "gumbel" and noise is None:
        noise = reference.gumbel_noise((x.shape[0], w2.shape[0]), x)
    kwargs: dict[str, Any] = dict(mode=mode, threshold=threshold, tau=tau, noise=noise)
    if kernel_backend(x) == "reference":
        return reference.gate_head(x, w1, b1, w2, b2, **kwargs)
    from nasengine.kernels.gate import fused_gate_head

    return fused_gate_head(x, w1, b1, w2, b2, interpret=use_interpreter(x), **kwargs)


def prefix_epilogue(y: torch.Tensor, widths: torch.Tensor, *, scale: torch.Tensor | None = None,
                    shift: torch.Tensor | None = None, weight: torch.Tensor | None = None,
                    bias: torch.Tensor | None = None, running_mean: torch.Tensor | None = None,
                    running_var: torch.Tensor | None = None, training: bool = False,
                    momentum: float = 0.1, eps: float = 1e-5,
                    activation: str = "relu") -> torch.Tensor:
    """BN -> activation -> per-sample channel-prefix mask of a conv output, in one pass.

    Args:
        y: ``[N, C, H, W]`` conv output.
        widths: int64 ``[N]``: sample n keeps channels ``c < widths[n]`` (others are 0).
        scale, shift: inference affine ``y * scale + shift`` given directly.
        weight, bias, running_mean, running_var: BN parameters; in inference they are folded
            into scale/shift, in training the batch statistics over (N, H, W) of ALL samples
            normalise and the running statistics are updated in place with ``momentum``.
        training: batch statistics (True) or inference affine (False).
        momentum, eps: as in ``nn.BatchNorm2d``.
        activation: "relu" or "none".

    Returns:
        Tensor like ``y``, differentiable in y and the affine parameters.
    """
    params = dict(weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
    check_epilogue_args(y, widths, activation, training, scale, shift, params)
    if kernel_backend(y) == "reference":
        return reference.prefix_epilogue(y, widths, scale=scale, shift=shift, training=training,
                                         momentum=momentum, eps=eps, activation=activation, **params)
    from nasengine.kernels.epilogue import fused_prefix_epilogue

    return fused_prefix_epilogue(y, widths, scale=scale, shift=shift, weight=weight, bias=bias,
                                 running_mean=running_mean, running_var=running_var,
                                 training=training, momentum=momentum, eps=eps,
                                 activation=activation, interpret=use_interpreter(y))


def route_buckets(route_ids: torch.Tensor, num_routes: int) -> Buckets:
    """Stable partition of a batch by route id.

    Raises:
        ValueError: an id outside ``0..num_routes-1`` (checked with one host sync).
    """
    check_route_args(route_ids, num_routes)
    if kernel_backend(route_ids) == "reference":
        buckets = reference.route_buckets(route_ids, num_routes)
    else:
        from nasengine.kernels.buckets import fused_route_buckets

        buckets = fused_route_buckets(route_ids, num_routes, interpret=use_interpreter(route_ids))
    return dataclasses.replace(buckets, sizes=check_route_counts(buckets.counts, route_ids, num_routes))


def unbucket(sorted_outputs: torch.Tensor, buckets: Buckets) -> torch.Tensor:
    """Inverse scatter of :func:`route_buckets`: ``out[perm[i]] = sorted_outputs[i]``."""
    if sorted_outputs.dim() < 1 or sorted_outputs.shape[0] != buckets.perm.numel():
        raise ValueError(f"sorted_outputs must have {buckets.perm.numel()} rows, got shape "
                         f"{tuple(sorted_outputs.shape)}")
    if kernel_backend(sorted_outputs) == "reference":
        return reference.unbucket(sorted_outputs, buckets)
    from nasengine.kernels.buckets import fused_unbucket

    return fused_unbucket(sorted_outputs, buckets.perm, interpret=use_interpreter(sorted_outputs))
