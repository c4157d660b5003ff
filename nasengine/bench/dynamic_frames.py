"""Frame-pruning rows of ``nasengine bench dynamic`` (``--methods frames``).

A trained frame-pruning network (``nasengine.dynamic.frames``) is measured on the test
clips three ways, all with the same weights:

* learned pruning: the network with its decision modules (frames dropped per clip);
* all frames: the dense TSN network on every frame;
* uniform sampling: the dense network, no decision modules, on evenly spaced frames, as
  many per clip on average as the learned pruning keeps at the classifier (clips get the
  floor or the ceiling of that mean, so the mean matches).

Learned pruning is then timed against all frames at batch 1 and 16 (interleaved, median;
``nasengine.dynamic.timing``). Each row carries four goal flags: accuracy within one point
of all frames, ahead of uniform sampling, efficiency (speedup / MAC reduction) >= 0.8, and
at least 2x fewer MACs.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from nasengine.dynamic import BackboneConfig, DynamicTrainConfig, evaluate_dynamic, evaluate_full_path, speed_report
from nasengine.dynamic.frames import FramesConfig, FramesNetwork

BATCHES = (1, 16)
#: Goals: speedup / MAC reduction, MAC reduction, accuracy loss against all frames.
EFFICIENCY_GOAL = 0.8
MAC_REDUCTION_GOAL = 2.0
ACC_TOLERANCE = 0.01
#: Clips timed per batch size.
TIMED_CLIPS = 64

#: Short schedule; the penalty pushes the decisions towards few frames.
SCHEDULE = DynamicTrainConfig(epochs=6, policy_epochs=3, finetune_epochs=2, penalty=1.0)
#: Clips of 8 frames of 32x32 grey digits.
CLIPS = {"frames": 8, "image_size": 32, "channels": 1}


def frames_network(width_mult: float) -> FramesNetwork:
    """TSM ResNet with a light 1-block first stage (8 channels), so that the frames dropped
    before stage 2 carry most of the MACs."""
    widths = tuple(max(4, int(round(w * width_mult))) for w in (8, 32, 64))
    backbone = BackboneConfig.default("resnet", in_channels=CLIPS["channels"], input_size=CLIPS["image_size"],
                                      widths=widths, depths=(1, 2, 2))
    return FramesNetwork(FramesConfig(backbone, frames=CLIPS["frames"], shift=True))


def evenly_spaced(frames: int, count: int) -> list[int]:
    """``count`` frame indices out of ``frames``, at the centres of equal segments (TSN)."""
    return [int((j + 0.5) * frames / count) for j in range(count)]


def uniform_counts(clips: int, mean: float) -> torch.Tensor:
    """Frames for each of ``clips`` clips: the floor or ceiling of ``mean``, spread evenly
    so that their total is ``floor(clips * mean)``."""
    edges = torch.floor(torch.arange(clips + 1, dtype=torch.float64) * mean).long()
    return edges[1:] - edges[:-1]


@torch.no_grad()
def evaluate_uniform(model: FramesNetwork, loader: Iterable, mean_frames: float, *,
                     device: str | torch.device = "cpu") -> dict[str, float]:
    """Accuracy and mean MACs per clip of the dense network on evenly spaced frames, with
    ``mean_frames`` frames per clip on average (at least one)."""
    dense = model.static_network(model.full_route()).to(device)
    frame_macs = sum(model.stage_macs())
    head_macs = model.classifier.in_features * model.classifier.out_features
    clips = len(loader.dataset)  # type: ignore[attr-defined]
    counts = uniform_counts(clips, mean_frames).clamp(1, model.config.frames)
    correct, macs, start = 0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        batch_counts = counts[start:start + x.shape[0]]
        start += x.shape[0]
        for k in batch_counts.unique().tolist():
            rows = (batch_counts == k).nonzero().flatten().to(device)
            logits = dense(x[rows][:, evenly_spaced(model.config.frames, k)])
            correct += int((logits.argmax(1) == y[rows]).sum())
        macs += int(batch_counts.sum()) * frame_macs + x.shape[0] * head_macs
    return {"acc": correct / clips, "macs": macs / clips, "frames": float(counts.float().mean())}


def frames_rows(model: FramesNetwork, test_loader: Iterable, dense_acc: float | None, *, devices: list[str],
                threads: int, repeats: int, source: str) -> list[dict[str, Any]]:
    """One row per device and batch size (see the module docstring)."""
    clips = torch.cat([x for x, _ in test_loader])[:TIMED_CLIPS]
    cfg, rows = model.config, []
    for device in devices:
        model.to(device)
        quality = evaluate_dynamic(model, test_loader, device=device)
        full_acc = evaluate_full_path(model, test_loader, device=device)
        kept = quality["frames_kept"] * cfg.frames
        uniform = evaluate_uniform(model, test_loader, kept, device=device)
        figures = {"method": "frames", "backbone": cfg.backbone.kind,
                   "widths": ",".join(map(str, cfg.backbone.widths)),
                   "depths": ",".join(map(str, cfg.backbone.depths)), "frames": cfg.frames, "shift": cfg.shift,
                   "image_size": cfg.backbone.input_size, "device": device, "threads": threads,
                   "acc": round(quality["acc"], 4), "dense_acc": None if dense_acc is None else round(dense_acc, 4),
                   "all_frames_acc": round(full_acc, 4), "uniform_acc": round(uniform["acc"], 4),
                   "frames_kept": round(kept, 3), "uniform_frames": round(uniform["frames"], 3),
                   **{k: round(v * cfg.frames, 3) for k, v in quality.items() if k.startswith("frames_kept_stage")},
                   "distinct_routes": quality["distinct_routes"], "macs": round(quality["macs"]),
                   "all_frames_macs": model.dense_macs(), "uniform_macs": round(uniform["macs"]),
                   "mac_reduction": round(quality["mac_reduction"], 3)}
        for batch in BATCHES:
            report = speed_report(model, clips.to(device), batch, repeats=repeats, warmup=2)
            rows.append({**figures, "batch": batch, "dense_ms": round(report["dense_ms"], 4),
                         "dense_layout": report["dense_layout"], "dynamic_ms": round(report["dynamic_ms"], 4),
                         "timed_mac_reduction": round(report["mac_reduction"], 3),
                         "speedup": round(report["speedup"], 3), "efficiency": round(report["efficiency"], 3),
                         "static_route_speedup": (round(report["static_route_speedup"], 3)
                                                  if "static_route_speedup" in report else None),
                         "within_1pt_of_all_frames": quality["acc"] >= full_acc - ACC_TOLERANCE,
                         "beats_uniform": quality["acc"] > uniform["acc"],
                         "meets_goal": report["efficiency"] >= EFFICIENCY_GOAL,
                         "mac_goal_met": quality["mac_reduction"] >= MAC_REDUCTION_GOAL, "model": source})
        model.cpu()
    return rows
