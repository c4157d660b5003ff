"""Plain PyTorch reference of the gating ops (autograd gives their gradients).

These are the unfused sequences the Triton kernels replace: they define the semantics, run
on any device and are the baseline of ``nasengine bench kernels``. Arguments are checked by
the public functions in :mod:`nasengine.kernels.dispatch`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nasengine.kernels.results import Buckets, GateOutput


def gumbel_noise(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel samples ``-log(-log(U))`` from torch's RNG, in fp32."""
    uniform = torch.rand(shape, device=like.device, dtype=torch.float32)
    tiny = torch.finfo(torch.float32).tiny
    exponential = -torch.log(uniform.clamp_min(tiny))
    return -torch.log(exponential.clamp_min(tiny))


def gate_output_dtype(x: torch.Tensor, w1: torch.Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, w1.dtype)


def gate_head(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
              b2: torch.Tensor, *, mode: str = "argmax", threshold: float = 0.5, tau: float = 1.0,
              noise: torch.Tensor | None = None) -> GateOutput:
    """Pool -> FC -> ReLU -> FC -> decision, computed in fp32, returned in the input dtype."""
    out_dtype = gate_output_dtype(x, w1)
    # mean(dtype=fp32) accumulates in fp32 without materialising an fp32 copy of x.
    pooled = x.mean((2, 3), dtype=torch.float32) if x.dim() == 4 else x.float()
    hidden = torch.relu(pooled @ w1.float().t() + b1.float())
    scores = hidden @ w2.float().t() + b2.float()
    return gate_decision(scores, mode=mode, threshold=threshold, tau=tau, noise=noise,
                         out_dtype=out_dtype)


def gate_decision(scores: torch.Tensor, *, mode: str, threshold: float, tau: float,
                  noise: torch.Tensor | None, out_dtype: torch.dtype) -> GateOutput:
    """Decision, probabilities and straight-through estimator from fp32 scores."""
    if mode == "argmax":
        probs = torch.softmax(scores, dim=1)
        decision = scores.argmax(1)
    elif mode in ("sigmoid", "straight_through"):
        soft = torch.sigmoid(scores)
        hard = (soft > threshold).to(soft.dtype)
        decision = hard[:, 0].long()
        probs = soft if mode == "sigmoid" else hard + (soft - soft.detach())
    else:  # gumbel
        if noise is None:
            noise = gumbel_noise(tuple(scores.shape), scores)
        perturbed = (scores + noise.float()) / tau
        soft = torch.softmax(perturbed, dim=1)
        decision = perturbed.argmax(1)
        hard = F.one_hot(decision, scores.shape[1]).to(soft.dtype)
        probs = hard + (soft - soft.detach())
    return GateOutput(decision=decision, scores=scores.to(out_dtype), probs=probs.to(out_dtype))


def bn_scale_shift(weight: torch.Tensor | None, bias: torch.Tensor | None,
                   running_mean: torch.Tensor, running_var: torch.Tensor,
                   eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference BN folded into a per-channel affine (differentiable in weight and bias)."""
    scale = torch.rsqrt(running_var.float() + eps)
    if weight is not None:
        scale = scale * weight.float()
    shift = -running_mean.float() * scale
    if bias is not None:
        shift = shift + bias.float()
    return scale, shift


def prefix_mask(widths: torch.Tensor, channels: int) -> torch.Tensor:
    """``[N, C, 1, 1]`` bool: channel c of sample n is kept when ``c < widths[n]``."""
    arange = torch.arange(channels, device=widths.device)
    return (arange[None, :] < widths[:, None]).view(-1, channels, 1, 1)


def prefix_epilogue(y: torch.Tensor, widths: torch.Tensor, *, scale: torch.Tensor | None = None,
                    shift: torch.Tensor | None = None, weight: torch.Tensor | None = None,
                    bias: torch.Tensor | None = None, running_mean: torch.Tensor | None = None,
                    running_var: torch.Tensor | None = None, training: bool = False,
                    momentum: float = 0.1, eps: float = 1e-5,
                    activation: str = "relu") -> torch.Tensor:
    """BN (affine or batch statistics) -> activation -> per-sample channel-prefix mask."""
    channels = y.shape[1]
    if training or running_mean is not None:
        # nn.BatchNorm2d's own kernel: batch statistics over all samples and running-stat
        # update in training, the running statistics in inference.
        z = F.batch_norm(y, running_mean, running_var, weight, bias, training=training,
                         momentum=momentum, eps=eps)
    else:
        view = (1, channels, 1, 1)
        z = y.float()
        if scale is not None:
            z = z * scale.float().view(view)
        if shift is not None:
            z = z + shift.float().view(view)
    if activation == "relu":
        z = torch.relu(z)
    return (z * prefix_mask(widths, channels).to(z.dtype)).to(y.dtype)


def route_counts(route_ids: torch.Tensor, num_routes: int) -> torch.Tensor:
    """Samples per route; ids outside ``0..num_routes-1`` are counted nowhere."""
    valid = (route_ids >= 0) & (route_ids < num_routes)
    slots = torch.where(valid, route_ids.long(), num_routes)
    return torch.bincount(slots, minlength=num_routes + 1)[:num_routes]


def route_buckets(route_ids: torch.Tensor, num_routes: int) -> Buckets:
    """Stable partition of a batch by route id (bincount + cumsum + stable argsort)."""
    route_ids = route_ids.long()
    counts = route_counts(route_ids, num_routes)
    offsets = torch.zeros(num_routes + 1, dtype=torch.int64, device=route_ids.device)
    offsets[1:] = torch.cumsum(counts, 0)
    perm = torch.argsort(route_ids, stable=True)
    return Buckets(route_ids=route_ids, counts=counts, offsets=offsets, perm=perm)


def unbucket(sorted_outputs: torch.Tensor, buckets: Buckets) -> torch.Tensor:
    """Inverse scatter: ``out[perm[i]] = sorted_outputs[i]`` (differentiable)."""
    return torch.empty_like(sorted_outputs).index_copy_(0, buckets.perm, sorted_outputs)
