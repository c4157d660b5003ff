"""Result types and argument checks shared by the reference and the Triton kernels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

GATE_MODES = ("argmax", "sigmoid", "straight_through", "gumbel")
ACTIVATIONS = ("relu", "none")


@dataclass(frozen=True)
class GateOutput:
    """Per-sample decisions of a gate head.

    Attributes:
        decision: int64 ``[N]``: action index (argmax / gumbel) or 0/1 (sigmoid modes).
        scores: ``[N, A]`` pre-activation of the last FC (Q-values / logits).
        probs: ``[N, A]`` softmax / sigmoid of the scores; for "straight_through" and
            "gumbel" the straight-through estimator (value hard, gradient soft).
    """

    decision: torch.Tensor
    scores: torch.Tensor
    probs: torch.Tensor


@dataclass(frozen=True)
class Buckets:
    """A batch partitioned by route id, stable within each route.

    Attributes:
        route_ids: int64 ``[N]``.
        counts: int64 ``[R]`` samples per route.
        offsets: int64 ``[R + 1]``; bucket r is ``perm[offsets[r]:offsets[r + 1]]``.
        perm: int64 ``[N]``; ``batch[perm]`` is the batch sorted by route.
        sizes: ``counts`` on the host (filled by ``route_buckets``, whose range check
            reads them anyway: one sync serves both).
    """

    route_ids: torch.Tensor
    counts: torch.Tensor
    offsets: torch.Tensor
    perm: torch.Tensor
    sizes: tuple[int, ...] = ()


def check_gate_args(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                    b2: torch.Tensor, mode: str, tau: float, noise: torch.Tensor | None) -> None:
    """Raise ``ValueError`` naming the first inconsistent gate-head argument."""
    if mode not in GATE_MODES:
        raise ValueError(f"gate mode {mode!r} is not one of {GATE_MODES}")
    if x.dim() not in (2, 4):
        raise ValueError(f"x must be [N, C, H, W] or [N, C], got shape {tuple(x.shape)}")
    channels = x.shape[1]
    if w1.dim() != 2 or w1.shape[1] != channels:
        raise ValueError(f"w1 must be [hidden, {channels}], got {tuple(w1.shape)}")
    hidden = w1.shape[0]
    if b1.shape != (hidden,):
        raise ValueError(f"b1 must be [{hidden}], got {tuple(b1.shape)}")
    if w2.dim() != 2 or w2.shape[1] != hidden:
        raise ValueError(f"w2 must be [actions, {hidden}], got {tuple(w2.shape)}")
    actions = w2.shape[0]
    if actions < 1:
        raise ValueError("w2 must have at least one action row")
    if b2.shape != (actions,):
        raise ValueError(f"b2 must be [{actions}], got {tuple(b2.shape)}")
    if mode in ("sigmoid", "straight_through") and actions != 1:
        raise ValueError(f"gate mode {mode!r} needs exactly 1 action, got {actions}")
    if mode == "gumbel":
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if noise is not None and (noise.shape != (x.shape[0], actions) or noise.device != x.device):
            raise ValueError(f"noise must be [{x.shape[0]}, {actions}] on {x.device}, got "
                             f"{tuple(noise.shape)} on {noise.device}")
    for name, t in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
        if t.device != x.device:
            raise ValueError(f"{name} is on {t.device} but x is on {x.device}")


def check_epilogue_args(y: torch.Tensor, widths: torch.Tensor, activation: str, training: bool,
                        scale: torch.Tensor | None, shift: torch.Tensor | None,
                        channel_params: dict[str, torch.Tensor | None]) -> None:
    """Raise ``ValueError`` naming the first inconsistent prefix-epilogue argument."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation {activation!r} is not one of {ACTIVATIONS}")
    if y.dim() != 4:
        raise ValueError(f"y must be [N, C, H, W], got shape {tuple(y.shape)}")
    n, c, h, w = y.shape
    if widths.shape != (n,) or widths.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"widths must be an int64 or int32 tensor of shape [{n}], got "
                         f"{widths.dtype} {tuple(widths.shape)}")
    if widths.device != y.device:
        raise ValueError(f"widths is on {widths.device} but y is on {y.device}")
    for name, t in {"scale": scale, "shift": shift, **channel_params}.items():
        if t is not None and (t.shape != (c,) or t.device != y.device):
            raise ValueError(f"{name} must be a [{c}] tensor on {y.device}, got "
                             f"{tuple(t.shape)} on {t.device}")
    has_direct = scale is not None or shift is not None
    if training:
        if has_direct:
            raise ValueError("scale/shift are for inference; training uses weight/bias and batch statistics")
        if n * h * w < 2:
            raise ValueError(f"training needs more than 1 value per channel, got N*H*W={n * h * w}")
        if (channel_params["running_mean"] is None) != (channel_params["running_var"] is None):
            raise ValueError("running_mean and running_var must be given together")
    elif has_direct and any(t is not None for t in channel_params.values()):
        raise ValueError("give either scale/shift or weight/bias/running_mean/running_var, not both")
    elif not has_direct and (channel_params["running_mean"] is None) != (channel_params["running_var"] is None):
        raise ValueError("inference needs both running_mean and running_var (or scale/shift)")
    elif not has_direct and channel_params["running_mean"] is None and (
            channel_params["weight"] is not None or channel_params["bias"] is not None):
        raise ValueError("inference with weight/bias needs running_mean and running_var")


def check_route_args(route_ids: torch.Tensor, num_routes: int) -> None:
    """Raise ``ValueError`` for a malformed route-id vector (values are checked by the callers)."""
    if num_routes < 1:
        raise ValueError(f"num_routes must be >= 1, got {num_routes}")
    if route_ids.dim() != 1 or route_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"route_ids must be a 1-D integer tensor, got {route_ids.dtype} "
                         f"{tuple(route_ids.shape)}")


def check_route_counts(counts: torch.Tensor, route_ids: torch.Tensor, num_routes: int) -> tuple[int, ...]:
    """The counts on the host, after checking them: ids outside ``0..num_routes-1`` are
    counted nowhere, so the counts fall short of N.

    One host sync; callers need the host sizes to slice buckets anyway.
    """
    sizes = tuple(counts.tolist())
    counted = sum(sizes)
    if counted != route_ids.numel():
        raise ValueError(f"route_ids must lie in 0..{num_routes - 1}; "
                         f"{route_ids.numel() - counted} of {route_ids.numel()} do not")
    return sizes
