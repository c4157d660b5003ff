"""Bucketed execution: split a batch by route so that every bucket runs dense.

A batch is kept sorted by route between layers (``order`` maps sorted rows back to the
caller's rows), so each layer needs one stable partition (``route_buckets``) and one host
read of the bucket sizes, and the caller's order is restored once, at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nasengine.kernels import Buckets, route_buckets


def partition(route_ids: torch.Tensor, num_routes: int) -> tuple[Buckets, list[int]]:
    """Stable buckets of ``route_ids`` and their sizes on the host (the one sync per layer)."""
    buckets = route_buckets(route_ids, num_routes)
    return buckets, list(buckets.sizes)


def restore_order(sorted_rows: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
    """Rows back in the caller's order: ``out[order[i]] = sorted_rows[i]``."""
    if order is None:
        return sorted_rows
    return torch.empty_like(sorted_rows).index_copy_(0, order, sorted_rows)


def collect_route(records: list[tuple[torch.Tensor | None, torch.Tensor]], n: int) -> torch.Tensor:
    """``[N, steps]`` actions in the caller's order from per-step ``(order, actions)`` pairs."""
    if not records:
        return torch.zeros(n, 0, dtype=torch.long)
    device = records[0][1].device
    route = torch.empty(n, len(records), dtype=torch.long, device=device)
    for t, (order, actions) in enumerate(records):
        if order is None:
            route[:, t] = actions
        else:
            route[order, t] = actions
    return route


def pooled_padded(segments: list[torch.Tensor], channels: int) -> torch.Tensor:
    """Global average of each segment, zero-padded to ``channels`` and stacked in order.

    A segment computed with fewer channels has exact zeros in the rest, so this equals
    pooling the full-width masked map.
    """
    vectors = []
    for seg in segments:
        pooled = seg.mean((2, 3))
        if pooled.shape[1] < channels:
            pooled = F.pad(pooled, (0, channels - pooled.shape[1]))
        vectors.append(pooled)
    return vectors[0] if len(vectors) == 1 else torch.cat(vectors)


def segment_ids(sizes: list[int], device: torch.device) -> torch.Tensor:
    """``[0]*sizes[0] + [1]*sizes[1] + ...`` as a tensor."""
    ids = torch.arange(len(sizes), device=device)
    return torch.repeat_interleave(ids, torch.tensor(sizes, device=device))
