"""``nasengine bench compress``: the compression methods against each other at 2x, 4x, 8x
fewer MACs.

On the plain VGG-style and ResNet-style digits backbones at 32x32 (those of the dynamic
networks), each seed trains a source network (the seed also seeds pruning, AMC and
fine-tuning), then every method prunes it to each MACs target. Per backbone, target and
method a row holds the test accuracy before and after the same short fine-tuning (mean ±
std over seeds), the MAC reduction, the measured CPU speedup over the source at batch 1 and
64 (first seed; source and compressed networks timed in the same rounds) and its ratio to
the MAC reduction (efficiency), and for ``l1`` and ``lasso`` the feature-map reconstruction
error of single pruned layers (first seed; ``compress_measures.reconstruction_errors``). The goal flags
say whether ``amc`` and ``lasso`` are at least as accurate as ``uniform`` before fine-tuning
at every target, and ahead at 4x and 8x.

Every (backbone, seed, target, method) result is appended to ``--runs``/records.jsonl and
every source network saved there, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from nasengine.bench.base import BenchSuite, comma_names, mean_std
from nasengine.bench.compress_measures import BACKBONE_WIDTHS, measured_speedups, plain_backbone, reconstruction_errors
from nasengine.compress.graph import prunable_layers
from nasengine.compress.method import MethodInput
from nasengine.compress.methods import METHODS
from nasengine.compress.run import calibration_batches
from nasengine.cost import count_cost
from nasengine.data import DataSplits, load_dataset
from nasengine.train.loop import TrainConfig, evaluate, fit, recalibrate_bn
from nasengine.utils.files import save_json_atomic
from nasengine.utils.run_folder import require_same
from nasengine.utils.timing import pinned_threads

BATCHES = (1, 64)
#: Speed goal: measured speedup >= this fraction of the MAC reduction.
EFFICIENCY_GOAL = 0.8
#: Methods whose accuracy before fine-tuning is compared with ``uniform``'s (the goal flags).
CHALLENGERS = ("amc", "lasso")


def _ratios(text: str) -> list[int]:
    try:
        ratios = [int(r) for r in text.split(",") if r.strip()]
    except ValueError:
        ratios = []
    if not ratios or any(r < 2 for r in ratios):
        raise ValueError(f"--ratios: expected comma-separated integers >= 2 (MACs divided by each), got {text!r}")
    return ratios


def check_arguments(args: argparse.Namespace) -> None:
    """The shared options of ``add_shared_arguments`` (and ``--repeats``), as ``ValueError``s."""
    for name in ("seeds", "train_epochs", "finetune_epochs", "amc_episodes", "repeats", "threads",
                 "calibration_images"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.amc_lbound <= 1:
        raise ValueError(f"--amc-lbound must be in (0, 1], got {args.amc_lbound}")
    for name in ("width_mult", "train_lr", "finetune_lr"):
        if not getattr(args, name) > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")


#: Options that shape the source networks a ``--runs`` folder keeps (both suites read them).
SOURCE_SETTINGS = ("width_mult", "train_epochs", "train_lr")
#: Options that shape bench compress's stored records.
RECORD_SETTINGS = (*SOURCE_SETTINGS, "finetune_epochs", "finetune_lr", "amc_episodes", "amc_lbound",
                   "calibration_images", "repeats", "threads")


def require_same_settings(runs: Path, file: str, args: argparse.Namespace, keys: tuple[str, ...]) -> None:
    """Record ``keys`` of ``args`` in ``runs/file`` the first time; later, refuse other values
    (a ``ValueError``), since stored sources and records would silently mix two settings."""
    settings = {k: getattr(args, k) for k in keys}
    path = runs / file
    if path.is_file():
        require_same(f"--runs {runs}", json.loads(path.read_text()), settings,
                     hint="pass the same options or another --runs folder")
    else:
        save_json_atomic(settings, path)


def trained_source(kind: str, seed: int, args: argparse.Namespace, data: DataSplits, runs: Path) -> torch.nn.Module:
    """The seed's trained source network (loaded when an earlier run saved it)."""
    torch.manual_seed(seed)
    model = plain_backbone(kind, args.width_mult)
    path = runs / f"source-{kind}-s{seed}.pt"
    if path.is_file():
        model.load_state_dict(torch.load(path, weights_only=True))
    else:
        train, _, _ = data.loaders(64, seed=seed)
        fit(model, train, None, TrainConfig(epochs=args.train_epochs, lr=args.train_lr, seed=seed), progress=False)
        torch.save(model.state_dict(), path)
    return model.eval()


def _done(path: Path) -> dict[tuple[str, int, int, str], dict[str, Any]]:
    if not path.is_file():
        return {}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["backbone"], r["seed"], r["ratio"], r["method"]): r for r in records}


def _compress_all(kind: str, seed: int, args: argparse.Namespace, data: DataSplits, runs: Path,
                  done: dict[tuple[str, int, int, str], dict[str, Any]], methods: list[str],
                  ratios: list[int]) -> None:
    """Every (target, method) result of one source network not yet in ``done``, appended to
    records.jsonl as it is measured."""
    todo = [(r, m) for r in ratios for m in methods if (kind, seed, r, m) not in done]
    if not todo:
        return
    source = trained_source(kind, seed, args, data, runs)
    train, val, test = data.loaders(64, seed=seed)
    calibration = calibration_batches(data, args.calibration_images)
    example = calibration[0][:2]
    layers = prunable_layers(source, example)
    source_macs = count_cost(source, (1, *example.shape[1:])).macs
    source_acc = evaluate(source, test)["acc"]
    held_out = torch.cat([x for x, _ in val])
    timed: dict[str, torch.nn.Module] = {}
    pending = []
    for ratio in ratios:
        errors: dict[str, dict[str, float]] | None = None
        recon_ratio = 1.0
        for method in methods:
            if (kind, seed, ratio, method) in done:
                continue
            t0 = time.perf_counter()
            task = MethodInput(source, example, source_macs // ratio, layers, calibration, seed,
                               score=lambda net: evaluate(net, val)["acc"],
                               options=amc_options(args) if method == "amc" else {})
            pruned = METHODS[method].run(task)
            model = pruned.model
            record: dict[str, Any] = {
                "backbone": kind, "seed": seed, "ratio": ratio, "method": method, "source_acc": source_acc,
                "mac_reduction": source_macs / count_cost(model, (1, *example.shape[1:])).macs,
                "acc_pruned": evaluate(model, test)["acc"]}
            # BN statistics of the pruned network, refreshed without touching a weight: what a
            # method without reconstruction gets back from recalibration alone.
            recalibrated = recalibrate_bn(copy.deepcopy(model), train, batches=len(train))
            record["acc_recalibrated"] = evaluate(recalibrated.eval(), test)["acc"]
            fit(model, train, None, TrainConfig(epochs=args.finetune_epochs, lr=args.finetune_lr, seed=seed),
                progress=False)
            record["acc_finetuned"] = evaluate(model.eval(), test)["acc"]
            if method in ("l1", "lasso") and seed == 0:
                if errors is None:  # one measurement serves both methods
                    recon_ratio = _lasso_ratio(source, example, layers, source_macs // ratio, calibration, seed)
                    off = [layer for layer in layers if not layer.residual]
                    errors = reconstruction_errors(source, example, off, recon_ratio, calibration, held_out, seed)
                record["recon_ratio"] = recon_ratio
                record["recon_error"] = {name: e[method] for name, e in errors.items()}
            record["seconds"] = time.perf_counter() - t0
            if seed == 0:
                timed[f"{ratio}/{method}"] = model
            pending.append(record)
            print(f"compress {kind} seed {seed} {ratio}x {method}: source {source_acc:.3f}, acc {record['acc_pruned']:.3f} -> "
                  f"{record['acc_finetuned']:.3f}, MACs /{record['mac_reduction']:.2f} "
                  f"({record['seconds']:.0f} s)", file=sys.stderr, flush=True)
            if seed != 0:
                _append(runs, [record])
                pending = []
    if timed:
        images = torch.cat([x for x, _ in test])
        speed = measured_speedups(source, timed, images, BATCHES, repeats=args.repeats)
        for record in pending:
            record["speedup"] = {str(b): s for b, s in speed[f"{record['ratio']}/{record['method']}"].items()}
        _append(runs, pending)


def amc_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"episodes": args.amc_episodes, "lbound": args.amc_lbound}


def _lasso_ratio(source: torch.nn.Module, example: torch.Tensor, layers: Any, limit: int,
                 calibration: list[torch.Tensor], seed: int) -> float:
    """The single preserve ratio ``lasso`` gives the layers off the shortcuts at ``limit``."""
    from nasengine.compress.limits import ratio_for_limit
    from nasengine.compress.methods import macs_counter

    task = MethodInput(source, example, limit, layers, calibration, seed)
    return ratio_for_limit(macs_counter(task, lambda layer: not layer.residual), limit)


def _append(runs: Path, records: list[dict[str, Any]]) -> None:
    with (runs / "records.jsonl").open("a") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")



def summarise(records: list[dict[str, Any]], methods: list[str], ratios: list[int]) -> list[dict[str, Any]]:
    """One row per (backbone, target, method) from the per-seed records, with goal flags."""
    rows = []
    for kind in dict.fromkeys(r["backbone"] for r in records):
        for ratio in ratios:
            for method in methods:
                runs = sorted((r for r in records if (r["backbone"], r["ratio"], r["method"]) == (kind, ratio, method)),
                              key=lambda r: r["seed"])
                timed = next((r for r in runs if "speedup" in r), None)
                row: dict[str, Any] = {"backbone": kind, "ratio": ratio, "method": method, "seeds": len(runs)}
                row["source_acc"], row["source_acc_std"] = mean_std([r["source_acc"] for r in runs])
                row["acc_pruned"], row["acc_pruned_std"] = mean_std([r["acc_pruned"] for r in runs])
                recalibrated = [r["acc_recalibrated"] for r in runs if "acc_recalibrated" in r]
                row["acc_recalibrated"], row["acc_recalibrated_std"] = (mean_std(recalibrated) if recalibrated
                                                                        else (None, None))
                row["acc_finetuned"], row["acc_finetuned_std"] = mean_std([r["acc_finetuned"] for r in runs])
                row["mac_reduction"] = round(statistics.fmean(r["mac_reduction"] for r in runs), 3)
                for batch in BATCHES:
                    speedup = timed["speedup"][str(batch)] if timed else None
                    row[f"speedup_b{batch}"] = None if speedup is None else round(speedup, 3)
                    row[f"efficiency_b{batch}"] = (None if speedup is None
                                                   else round(speedup / timed["mac_reduction"], 3))  # type: ignore[index]
                errors = [statistics.fmean(r["recon_error"].values()) for r in runs if r.get("recon_error")]
                row["recon_error"] = round(statistics.fmean(errors), 4) if errors else None
                row["recon_ratio"] = next((round(r["recon_ratio"], 4) for r in runs if "recon_ratio" in r), None)
                row.update({"acc_pruned_per_seed": [round(r["acc_pruned"], 4) for r in runs],
                            "acc_finetuned_per_seed": [round(r["acc_finetuned"], 4) for r in runs],
                            "recon_error_per_layer": _per_layer(runs)})
                rows.append(row)
    _goal_flags(rows)
    return rows


def _per_layer(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    measured = [r for r in runs if "recon_error" in r]
    if not measured:
        return None
    return {n: round(statistics.fmean(r["recon_error"][n] for r in measured), 4) for n in measured[0]["recon_error"]}


def _goal_flags(rows: list[dict[str, Any]]) -> None:
    """``vs_uniform``: accuracy before fine-tuning minus ``uniform``'s; ``meets_accuracy_goal``
    (amc, lasso): not behind at any target, ahead at 4x and 8x; ``meets_speed_goal``:
    efficiency >= ``EFFICIENCY_GOAL`` at both batch sizes."""
    base = {(r["backbone"], r["ratio"]): r["acc_pruned"] for r in rows if r["method"] == "uniform"}
    for row in rows:
        uniform = base.get((row["backbone"], row["ratio"]))
        row["vs_uniform"] = None if uniform is None else round(row["acc_pruned"] - uniform, 4)
        row["meets_accuracy_goal"] = None
        if row["method"] in CHALLENGERS and row["vs_uniform"] is not None:
            row["meets_accuracy_goal"] = row["vs_uniform"] > 0 if row["ratio"] >= 4 else row["vs_uniform"] >= 0
        effs = [row[f"efficiency_b{b}"] for b in BATCHES]
        row["meets_speed_goal"] = None if None in effs else all(e >= EFFICIENCY_GOAL for e in effs)


def bench_compress(args: argparse.Namespace) -> list[dict[str, Any]]:
    check_arguments(args)
    backbones = comma_names(args.backbones, tuple(BACKBONE_WIDTHS), "--backbones")
    methods = comma_names(args.methods, tuple(METHODS), "--methods")
    ratios = _ratios(args.ratios)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    require_same_settings(runs, "sources.json", args, SOURCE_SETTINGS)
    require_same_settings(runs, "settings.json", args, RECORD_SETTINGS)
    data = load_dataset("digits", image_size=32, channels=3)
    with pinned_threads(args.threads):
        for seed in range(args.seeds):  # seeds outermost: a run cut short has fewer seeds of every backbone
            for kind in backbones:
                _compress_all(kind, seed, args, data, runs, _done(runs / "records.jsonl"), methods, ratios)
    records = [r for key, r in _done(runs / "records.jsonl").items()
               if key[0] in backbones and key[1] < args.seeds and key[2] in ratios and key[3] in methods]
    return summarise(records, methods, ratios)


def add_shared_arguments(p: argparse.ArgumentParser, *, backbones: str, seeds: int, amc_episodes: int) -> None:
    """The options of ``bench compress`` and ``bench compress-latency`` alike: backbones,
    methods, seeds, source training, fine-tuning, AMC and calibration."""
    p.add_argument("--backbones", default=backbones, help="comma-separated digits backbones (vgg, resnet)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated methods ({', '.join(METHODS)})")
    p.add_argument("--seeds", type=int, default=seeds, help="seeds: each trains its own source network")
    p.add_argument("--width-mult", type=float, default=1.0, help="backbone width multiplier")
    p.add_argument("--train-epochs", type=int, default=15, help="training epochs of each source network")
    p.add_argument("--train-lr", type=float, default=0.02, help="learning rate of the source networks (the VGG, "
                                                                "without shortcuts, stalls at 0.05)")
    p.add_argument("--finetune-epochs", type=int, default=3, help="fine-tuning epochs of every compressed network")
    p.add_argument("--finetune-lr", type=float, default=0.01, help="fine-tuning learning rate")
    p.add_argument("--amc-episodes", type=int, default=amc_episodes, help="AMC search episodes (a quarter of them "
                                                                           "warm-up)")
    p.add_argument("--amc-lbound", type=float, default=0.05, help="AMC's smallest preserve ratio of a layer (0.2 "
                                                                   "cannot reach 8x on the ResNet: shortcuts stay)")
    p.add_argument("--calibration-images", type=int, default=256, help="training images sampled for LASSO and "
                                                                        "least squares")
    p.add_argument("--threads", type=int, default=1, help="torch threads for everything, timing included")
    p.add_argument("--runs", default="runs/bench-compress", help="folder of the source networks (both suites share "
                                                                 "them) and of bench compress's per-seed records "
                                                                 "(a rerun resumes)")


def _compress_arguments(p: argparse.ArgumentParser) -> None:
    add_shared_arguments(p, backbones="vgg,resnet", seeds=5, amc_episodes=8)
    p.add_argument("--ratios", default="2,4,8", help="comma-separated MAC reductions (the limit is source MACs / r)")
    p.add_argument("--repeats", type=int, default=15, help="timed rounds per speed measurement (the median is kept)")


COMPRESS_SUITE = BenchSuite(help="uniform, l1, lasso, amc at 2x/4x/8x fewer MACs on the digits backbones: accuracy "
                                 "before/after fine-tuning, reconstruction error, measured speedup",
                            add_arguments=_compress_arguments, run=bench_compress)
