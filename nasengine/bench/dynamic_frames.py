"""Frame-pruning rows of ``nasengine bench dynamic`` (``--methods frames``).

A trained frame-pruning network (``nasengine.dynamic.frames``) is measured on the test
clips three ways, all with the same weights:

* learned pruning: the network with its decision modules (frames dropped per clip);
* all frames: the dense TSN network on every frame;
* uniform sampling: the dense network, no decision modules, on evenly spaced frames, as
  many per clip on average as the learned pruning keeps at the classifier (clips get the
  floor or the ceiling of that mean, so the mean matches).

Learned pruning is then timed against all frames at batch 1 and 16 (interleaved, median;
``nasengine.dynamic.timing``). With several seeds (``--seeds``, one network each) a row
gives the mean over them, ``*_std`` columns (population) and each seed's accuracy. Each row
carries four goal flags, on the means: accuracy within one point of all frames, ahead of
uniform sampling, efficiency (speedup / MAC reduction) >= 0.8, and at least 2x fewer MACs.
"""

from __future__ import annotations

import statistics
from typing import Any, Iterable

import torch

from nasengine.bench.base import mean_std
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


#: Figures averaged over seeds; those in ``SPREAD`` also get a ``*_std`` column.
MEANS = ("acc", "dense_acc", "all_frames_acc", "uniform_acc", "frames_kept", "uniform_frames", "distinct_routes",
         "macs", "uniform_macs", "dense_ms", "dynamic_ms", "timed_mac_reduction", "speedup", "efficiency",
         "static_route_speedup")
SPREAD = ("acc", "dense_acc", "all_frames_acc", "uniform_acc", "mac_reduction", "speedup", "efficiency")


def _seed_figures(model: FramesNetwork, test_loader: Iterable, dense_acc: float | None, clips: torch.Tensor,
                  device: str, repeats: int) -> list[dict[str, Any]]:
    """One seed's figures, one dict per batch size (unrounded)."""
    frames = model.config.frames
    model.to(device)
    quality = evaluate_dynamic(model, test_loader, device=device)
    kept = quality["frames_kept"] * frames
    uniform = evaluate_uniform(model, test_loader, kept, device=device)
    figures = {"acc": quality["acc"], "dense_acc": dense_acc,
               "all_frames_acc": evaluate_full_path(model, test_loader, device=device),
               "uniform_acc": uniform["acc"], "frames_kept": kept, "uniform_frames": uniform["frames"],
               **{k: v * frames for k, v in quality.items() if k.startswith("frames_kept_stage")},
               "distinct_routes": quality["distinct_routes"], "macs": quality["macs"], "uniform_macs": uniform["macs"],
               "mac_reduction": quality["mac_reduction"]}
    out = []
    for batch in BATCHES:
        report = speed_report(model, clips.to(device), batch, repeats=repeats, warmup=2)
        out.append({**figures, "batch": batch, "dense_ms": report["dense_ms"], "dense_layout": report["dense_layout"],
                    "dynamic_ms": report["dynamic_ms"], "timed_mac_reduction": report["mac_reduction"],
                    "speedup": report["speedup"], "efficiency": report["efficiency"],
                    "static_route_speedup": report.get("static_route_speedup")})
    model.cpu()
    return out


def summarise_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean (and ``*_std``, population) over the seeds' figures of one batch size; the MAC
    reduction of the mean MACs; the goal flags on the means."""
    row: dict[str, Any] = {"seeds": len(runs)}
    for key in [k for k in runs[0] if k in MEANS or k.startswith("frames_kept_stage")]:
        values = [r[key] for r in runs]
        digits = 4 if key.endswith("_acc") or key in ("acc", "dense_ms", "dynamic_ms") else 3
        row[key] = None if None in values else mean_std(values, digits)[0]
    for key in SPREAD:
        values = [r[key] for r in runs]
        row[f"{key}_std"] = None if None in values else mean_std(values)[1]
    row["seed_accs"] = [round(r["acc"], 4) for r in runs]
    row["macs"], row["uniform_macs"] = round(row["macs"]), round(row["uniform_macs"])
    row["mac_reduction"] = round(statistics.fmean(r["all_frames_macs"] for r in runs) / row["macs"], 3)
    row["dense_layout"] = ",".join(sorted({r["dense_layout"] for r in runs}))
    row.update({"within_1pt_of_all_frames": row["acc"] >= row["all_frames_acc"] - ACC_TOLERANCE,
                "beats_uniform": row["acc"] > row["uniform_acc"], "meets_goal": row["efficiency"] >= EFFICIENCY_GOAL,
                "mac_goal_met": row["mac_reduction"] >= MAC_REDUCTION_GOAL})
    return row


def frames_rows(models: list[tuple[FramesNetwork, float | None]], test_loader: Iterable, *, devices: list[str],
                threads: int, repeats: int, source: str) -> list[dict[str, Any]]:
    """One row per device and batch size over the seeds' networks (same configuration),
    with ``(model, dense backbone accuracy)`` per seed (see the module docstring)."""
    clips = torch.cat([x for x, _ in test_loader])[:TIMED_CLIPS]
    cfg, rows = models[0][0].config, []
    layout = {"method": "frames", "backbone": cfg.backbone.kind, "widths": ",".join(map(str, cfg.backbone.widths)),
              "depths": ",".join(map(str, cfg.backbone.depths)), "frames": cfg.frames, "shift": cfg.shift,
              "image_size": cfg.backbone.input_size, "threads": threads,
              "all_frames_macs": models[0][0].dense_macs()}
    for device in devices:
        per_seed = [_seed_figures(model, test_loader, dense_acc, clips, device, repeats) for model, dense_acc in models]
        for b in range(len(BATCHES)):
            runs = [{**seed[b], "all_frames_macs": model.dense_macs()} for seed, (model, _) in zip(per_seed, models)]
            rows.append({**layout, "device": device, "batch": BATCHES[b], **summarise_seeds(runs), "model": source})
    return rows
