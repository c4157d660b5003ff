"""Accuracy and exact per-image MACs of a dynamic network on a dataset."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from nasengine.train.loop import evaluate, recalibrate_bn


@torch.no_grad()
def evaluate_dynamic(model: nn.Module, loader: Iterable, *, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Top-1 accuracy of the executed (bucketed) network, mean MACs per image (decision
    networks included), the reduction against the dense backbone, and how input-dependent
    the routes are: ``distinct_routes`` and the share of images on the most common one."""
    model.eval()
    correct, total, macs, routes = 0, 0, 0, []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits, route = model.execute(x, return_route=True)
        correct += int((logits.argmax(1) == y).sum())
        total += y.numel()
        macs += int(model.route_macs(route).sum())
        routes.append(route.cpu())
    if total == 0:
        raise ValueError("evaluation data is empty")
    mean = macs / total
    routes_seen = torch.cat(routes)
    if routes_seen.shape[1]:
        counts = torch.unique(routes_seen, dim=0, return_counts=True)[1]
    else:  # nothing to decide: one route
        counts = torch.tensor([total])
    return {"acc": correct / total, "macs": mean, "mac_reduction": model.dense_macs() / mean,
            "distinct_routes": int(counts.numel()), "top_route_share": float(counts.max()) / total,
            **model.route_summary(routes_seen)}


def evaluate_full_path(model: nn.Module, loader: Iterable, *, device: str | torch.device = "cpu") -> float:
    """Accuracy of the same weights with every group / block computed (the dense backbone)."""
    dense = model.static_network(model.full_route()).to(device)
    return evaluate(dense, loader, device=device)["acc"]


def dense_reference(model: nn.Module, train_loader: Iterable, loader: Iterable, *,
                    device: str | torch.device = "cpu") -> float:
    """Accuracy of the dense backbone of ``model`` (every group / block, BN statistics
    recomputed for that network on ``train_loader``)."""
    dense = model.static_network(model.full_route(), fold_bn=False).to(device)
    recalibrate_bn(dense, train_loader, batches=len(train_loader), device=device)
    return evaluate(dense, loader, device=device)["acc"]
