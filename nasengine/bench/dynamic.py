"""``nasengine bench dynamic``: do saved MACs become saved time?

A dynamic network (RNP on a VGG-16-style CIFAR backbone, SkipNet / routing on a CIFAR
ResNet) is trained briefly on digits upscaled to 32x32 (or loaded with ``--dynamic-run``),
then timed against its dense backbone (same weights, BN folded, every group / block, the
faster of NCHW and channels-last) on the same test images at batch 1 and 64, interleaved in
one process, median of ``--repeats``. Each row reports the MAC reduction of the timed images
next to the measured speedup and their ratio (efficiency), the test accuracy of the timed
network next to the pre-trained dense backbone's, and how many distinct routes the test
images take. At batch 1 the
``static_route_speedup`` column times each image through the plain network of its own route:
what the hardware gives for those MACs with no decision or bucketing overhead at all.
``--methods frames`` (or a frames run) adds video rows instead: frame pruning on digit clips
against all frames and uniform sampling (``nasengine.bench.dynamic_frames``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

import torch

from nasengine.bench import dynamic_frames
from nasengine.bench.base import BenchSuite
from nasengine.data import load_dataset
from nasengine.data.video_folder import load_video_dataset
from nasengine.dynamic import (
    BackboneConfig,
    DynamicTrainConfig,
    GatedConfig,
    GatedNetwork,
    RNPConfig,
    RNPNetwork,
    dense_reference,
    evaluate_dynamic,
    evaluate_full_path,
    load_dynamic,
    recipe_for,
    speed_report,
    train_dynamic,
)
from nasengine.dynamic.io import saved_dataset, saved_dense_accuracy
from nasengine.utils.devices import resolve_device
from nasengine.utils.validation import finite_number

#: Goals: measured speedup >= this fraction of the MAC reduction.
EFFICIENCY_GOALS = {1: 0.8, 64: 0.7}
BATCHES = (1, 64)

#: Short schedules (digits is small). RNP's penalty charges measured batch-1 latency, which
#: steers the decisions away from narrow early layers that save MACs but little time.
SCHEDULES = {
    "rnp": DynamicTrainConfig(epochs=2, nested_epochs=2, policy_epochs=1, finetune_epochs=2, rounds=2, penalty=0.05,
                              cost="latency"),
    "skipnet": DynamicTrainConfig(epochs=4, relaxed_epochs=3, policy_epochs=6, penalty=2.5),
    "routing": DynamicTrainConfig(epochs=4, relaxed_epochs=3, policy_epochs=6, penalty=2.5),
    "frames": dynamic_frames.SCHEDULE,
}


def bench_network(method: str, width_mult: float) -> torch.nn.Module:
    """RNP on VGG-16 (CIFAR layout), SkipNet / routing on a 3-stage ResNet-20 layout at 2x width,
    frames on a small TSM ResNet."""
    if method == "frames":
        return dynamic_frames.frames_network(width_mult)
    scale = lambda widths: tuple(max(4, int(round(w * width_mult))) for w in widths)  # noqa: E731
    if method == "rnp":
        backbone = BackboneConfig.default("vgg", in_channels=3, widths=scale((64, 128, 256, 512, 512)))
        return RNPNetwork(RNPConfig(backbone, groups=4))
    backbone = BackboneConfig.default("resnet", in_channels=3, widths=scale((32, 64, 128)))
    return GatedNetwork(GatedConfig(backbone, method=method))


def _bench_data(name: str, image_size: int, channels: int, frames: int | None = None) -> Any:
    """Digits images, or digit clips of ``frames`` frames."""
    if name == "clips":
        return load_video_dataset("clips", image_size=image_size, channels=channels, frames=frames)
    return load_dataset(name, image_size=image_size, channels=channels)


def _dense_acc(model: torch.nn.Module, train_loader: Any, test_loader: Any) -> float:
    """Test accuracy of the pre-trained dense backbone, leaving the training's random stream as it was."""
    state = torch.get_rng_state()
    try:
        return dense_reference(model, train_loader, test_loader)
    finally:
        torch.set_rng_state(state)


def _train(method: str, seed: int, cfg: DynamicTrainConfig, data: Any,
           width_mult: float) -> tuple[torch.nn.Module, float, Any]:
    """Seed ``seed``'s trained network (initialisation and shuffling), the test accuracy of
    its pre-trained dense backbone, and the test loader."""
    train_loader, _, test_loader = data.loaders(64, seed=seed)
    torch.manual_seed(seed)
    model = bench_network(method, width_mult)
    history = train_dynamic(model, recipe_for(method), train_loader, None, replace(cfg, seed=seed),
                            on_epoch=lambda r: print(f"{method} seed {seed}: trained epoch {r['epoch']} ({r['phase']})",
                                                     file=sys.stderr, flush=True),
                            after_pretrain=lambda net: {"dense_acc": _dense_acc(net, train_loader, test_loader)})
    return model, next(r["dense_acc"] for r in history if "dense_acc" in r), test_loader


def timed_devices(name: str) -> list[str]:
    """The CPU, and the GPU when ``name`` (``auto``, ``cuda``, ``cuda:N``) resolves to one."""
    device = resolve_device(name, allow_auto=True)
    return ["cpu"] + ([str(device)] if device.type == "cuda" else [])


def bench_dynamic(args: argparse.Namespace) -> list[dict[str, Any]]:
    threads = args.threads
    for name in ("threads", "repeats", "seeds"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    finite_number("--width-mult", args.width_mult, low=0, low_open=True, high=None)
    devices = timed_devices(args.device)
    # Per entry: the seeds' (network, dense backbone accuracy), source, test clips / images.
    models: list[tuple[list[tuple[Any, float | None]], str, Any]] = []
    if args.dynamic_run:
        for run in args.dynamic_run:
            model, dataset = load_dynamic(run), saved_dataset(run) or {}
            name = dataset.get("name", "digits")
            if name not in ("digits", "clips"):
                raise ValueError(f"{run} was trained on {name!r}; the dynamic suite times digits and clips runs")
            data = _bench_data(name, dataset.get("image_size", 32), dataset.get("channels", 3), dataset.get("frames"))
            models.append(([(model, saved_dense_accuracy(run))], f"run {run}", data.loaders(64, seed=0)[2]))
    else:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in methods if m not in SCHEDULES]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(SCHEDULES)}")
        if args.seeds > 1 and methods != ["frames"]:
            raise ValueError(f"--seeds {args.seeds} applies to --methods frames only, got --methods {args.methods}")
        for method in methods:
            data = (_bench_data("clips", dynamic_frames.CLIPS["image_size"], dynamic_frames.CLIPS["channels"],
                                dynamic_frames.CLIPS["frames"]) if method == "frames" else _bench_data("digits", 32, 3))
            cfg = SCHEDULES[method]
            if args.train_epochs:
                cfg = DynamicTrainConfig(**{**cfg.to_dict(), "epochs": args.train_epochs})
            trained = [_train(method, seed, cfg, data, args.width_mult) for seed in range(args.seeds)]
            seeds = f", seeds 0-{args.seeds - 1}" if args.seeds > 1 else ""
            models.append(([(m, acc) for m, acc, _ in trained],
                           f"trained here ({cfg.epochs} pre-training epochs{seeds})", trained[0][2]))
    torch.set_num_threads(threads)  # timing only; training above used the default
    rows = []
    for seeds, source, test_loader in models:
        model, dense_acc = seeds[0]
        if model.method == "frames":
            rows += dynamic_frames.frames_rows(seeds, test_loader, devices=devices, threads=threads,
                                               repeats=args.repeats, source=source)
            continue
        images = torch.cat([x for x, _ in test_loader])
        for device in devices:
            model.to(device)
            quality = evaluate_dynamic(model, test_loader, device=device)
            full_acc = evaluate_full_path(model, test_loader, device=device)
            timed = images[: max(BATCHES) * 2].to(device)
            for batch in BATCHES:
                subset = timed[:64] if batch == 1 else timed
                report = speed_report(model, subset, batch, repeats=args.repeats, warmup=2)
                rows.append({"method": model.method, "backbone": model.config.backbone.kind,
                             "widths": ",".join(map(str, model.config.backbone.widths)), "device": device,
                             "threads": threads, "batch": batch, "acc": round(quality["acc"], 4),
                             "dense_acc": None if dense_acc is None else round(dense_acc, 4),
                             "full_path_acc": round(full_acc, 4), "distinct_routes": quality["distinct_routes"],
                             "top_route_share": round(quality["top_route_share"], 4),
                             **{k: round(quality[k], 4) for k in ("groups_computed", "blocks_skipped") if k in quality},
                             "dense_ms": round(report["dense_ms"], 4), "dense_layout": report["dense_layout"],
                             "dense_nchw_ms": round(report["dense_nchw_ms"], 4),
                             "dynamic_ms": round(report["dynamic_ms"], 4),
                             "mac_reduction": round(report["mac_reduction"], 3), "speedup": round(report["speedup"], 3),
                             "efficiency": round(report["efficiency"], 3),
                             "static_route_speedup": (round(report["static_route_speedup"], 3)
                                                      if "static_route_speedup" in report else None),
                             "goal": EFFICIENCY_GOALS[batch],
                             "meets_goal": report["efficiency"] >= EFFICIENCY_GOALS[batch], "model": source})
        model.cpu()
    return rows


def _dynamic_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", default="rnp,skipnet",
                   help=f"comma-separated dynamic methods ({', '.join(SCHEDULES)}; frames: video rows on digit clips)")
    p.add_argument("--dynamic-run", action="append", help="time this trained dynamic run instead of training one "
                                                          "(repeatable)")
    p.add_argument("--width-mult", type=float, default=1.0, help="backbone width multiplier")
    p.add_argument("--train-epochs", type=int, help="backbone pre-training epochs (default: the method's schedule)")
    p.add_argument("--seeds", type=int, default=1, help="frames: networks trained with seeds 0..N-1; rows give the "
                                                        "mean and std over them")
    p.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (the median is kept)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda and auto also time on CUDA when available)")


DYNAMIC_SUITE = BenchSuite(help="dynamic vs dense wall-clock at batch 1 and 64, next to the MAC reduction",
                           add_arguments=_dynamic_arguments, run=bench_dynamic)
