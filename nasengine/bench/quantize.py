"""``nasengine bench quantize``: HAQ against uniform bit widths at equal model size and at
equal modelled latency.

On the plain digits backbones of ``bench compress`` (:func:`nasengine.bench.compress_measures.
plain_backbone`, 32x32, trained here once per backbone), for each seed: the uniform policies
(every layer at ``k`` bits, the first and last at 8 as HAQ keeps them), and for each uniform
policy below 8 bits two HAQ searches, one under its exact size and one under its latency on
an accelerator's analytic model (``--hardware``, :mod:`nasengine.quantize.hardware`; a
model, not a measurement), all fine-tuned for the same epochs. Rows (``kind``,
:mod:`nasengine.records.bench_quantize`):

* ``policy``: per backbone and policy, the exact size, the modelled latency, validation and
  test accuracy right after quantization and after fine-tuning (mean ± std over seeds; HAQ
  selects by validation accuracy, so test accuracy is the unbiased comparison), the
  differences from the uniform policy it is held to, the per-layer bits and the episode
  each came from (0: HAQ kept its uniform reference episode);
* ``clip``: uniform 2-bit and the uniform policies below 5 bits with each activation
  clipping, before fine-tuning (one run each: no seed enters it);
* ``speed``: the 8-bit network on PyTorch's int8 x86 kernels against the float one, at
  batch 1 and 64 (milliseconds per batch, timed interleaved in one process, median);
* ``hardware``: HAQ on a depthwise-separable backbone at the modelled latency of uniform
  ``--hardware-bits`` on each roofline accelerator of ``--hardware-pair``: the bits it gives
  depthwise and pointwise layers (:mod:`nasengine.bench.quantize_hardware`).

At equal size HAQ decides weight bits only, activations held at the uniform policy's bits
(only weights cost size), so that the two differ only in where the weight bits go.

Finished runs are appended to ``--runs``/records-*.jsonl as they end; a rerun skips them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from nasengine.bench.base import BenchSuite, comma_names
from nasengine.bench.compress import require_same_settings
from nasengine.bench.compress_measures import BACKBONE_WIDTHS, plain_backbone
from nasengine.bench.quantize_hardware import MOBILE_TRAINING, Runner, hardware_rows, latency_model, mobile_backbone
from nasengine.bench.quantize_rows import LabelledRun, clip_rows, policy_rows
from nasengine.compress.source import SourceModel
from nasengine.data import DataSplits, load_dataset
from nasengine.quantize.calibrate import CLIPS
from nasengine.quantize.hardware import ACCELERATORS, ROOFLINES
from nasengine.quantize.run import QuantizeConfig, quantize
from nasengine.records.base import Record
from nasengine.records.bench_quantize import QuantizeRun, QuantizeSpeedRow
from nasengine.train.loop import TrainConfig, evaluate, fit
from nasengine.utils.timing import time_calls

BACKBONES = tuple(BACKBONE_WIDTHS)
#: Options that change a stored source or record: a ``--runs`` folder keeps them (``settings.json``).
RECORD_SETTINGS = ("width_mult", "train_epochs", "train_lr", "episodes", "warmup", "sigma_decay", "finetune_epochs",
                   "lr", "act_clip", "hardware")
IMAGE_SIZE = 32  #: the backbones' input side
SPEED_BATCHES = (1, 64)


def _bits(text: str) -> list[int]:
    try:
        bits = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise ValueError(f"--bits {text!r}: give comma-separated bit widths in 2..8") from None
    if not bits or any(not 2 <= b <= 8 for b in bits):
        raise ValueError(f"--bits {text!r}: give comma-separated bit widths in 2..8")
    return bits


def _source(kind: str, data: DataSplits, args: argparse.Namespace, runs: Path) -> SourceModel:
    """The trained backbone (cached in ``runs``): a ``bench compress`` one, or ``mobilenet``."""
    torch.manual_seed(0)
    model = mobile_backbone(args.width_mult) if kind == "mobilenet" else plain_backbone(kind, args.width_mult)
    epochs, lr = MOBILE_TRAINING if kind == "mobilenet" else (args.train_epochs, args.train_lr)
    path = runs / f"plain-{kind}-x{args.width_mult}-e{epochs}lr{lr}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
    else:
        train, val, _ = data.loaders(64, seed=0)
        fit(model, train, val, TrainConfig(epochs=epochs, lr=lr, seed=0))
        torch.save(model.state_dict(), path)
    return SourceModel(model.eval(), (3, IMAGE_SIZE, IMAGE_SIZE), 10, {"backbone": kind})


def _done(path: Path) -> dict[str, QuantizeRun]:
    if not path.exists():
        return {}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return {r.key: r for r in (QuantizeRun.from_dict(json.loads(line), str(path)) for line in lines)}


def _run(source: SourceModel, data: DataSplits, cfg: QuantizeConfig) -> tuple[torch.nn.Module, dict[str, Any]]:
    model, record = quantize(source, data, cfg)
    source.model.eval()
    return model, record


def _runner(kind: str, source: SourceModel, data: DataSplits, log: Path) -> Runner:
    """``run(key, **settings)``: the quantization of ``source`` with those ``QuantizeConfig``
    settings, done once and logged to ``log`` (a rerun reads it back)."""
    done = _done(log)

    def run(key: str, **settings: Any) -> QuantizeRun:
        if key not in done:
            _, record = _run(source, data, QuantizeConfig(**settings))
            done[key] = QuantizeRun.from_dict({"key": key, "backbone": kind, **{k: record[k] for k in (
                "policy", "size_bits", "float_size_bits", "bitops", "float_val_acc", "quantized_val_acc",
                "finetuned_val_acc", "test_acc", "float_test_acc", "quantized_test_acc")},
                "best_episode": (record["search"] or {}).get("episode")})
            with log.open("a") as f:
                f.write(json.dumps(done[key].to_dict()) + "\n")
            print(f"quantize bench: {key} {done[key].quantized_val_acc:.4f} -> {done[key].finetuned_val_acc}",
                  file=sys.stderr, flush=True)
        return done[key]

    return run


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings of every quantization, and those of every HAQ search."""
    common = {"finetune_epochs": args.finetune_epochs, "lr": args.lr, "act_clip": args.act_clip}
    return common, {"options": {"episodes": args.episodes, "warmup": args.warmup, "sigma_decay": args.sigma_decay},
                    **common}


def _records(kind: str, source: SourceModel, args: argparse.Namespace,
             run: Runner) -> tuple[list[LabelledRun], list[tuple[str, QuantizeRun]]]:
    """The backbone's policy runs (labelled) and clipping runs."""
    latency = latency_model(source, args.hardware)
    common, search = _settings(args)
    runs: list[LabelledRun] = []
    for seed in range(args.seeds):
        for bits in args.bit_list:
            uniform = run(f"{kind}/uniform{bits}/s{seed}", method="uniform", bits=bits, seed=seed, **common)
            runs.append((f"uniform {bits}", uniform, None, None))
            if bits == 8:  # the 8-bit size and latency admit every policy of 2..8 bits: no limit to search under
                continue
            # under a size limit only weight bits cost: HAQ chooses them, activations stay at uniform's bits
            haq = run(f"{kind}/haq{bits}/s{seed}", method="haq", max_size=str(uniform.size_bits), act_bits=bits,
                      seed=seed, **search)
            runs.append((f"haq @ size of uniform {bits}", haq, f"uniform {bits}", "size"))
            haq = run(f"{kind}/haq-{args.hardware}{bits}/s{seed}", method="haq", hardware=args.hardware,
                      max_latency_ms=latency(uniform.policy), seed=seed, **search)
            runs.append((f"haq @ modelled {args.hardware} latency of uniform {bits}", haq, f"uniform {bits}",
                         "latency"))
    clips = [(f"clip {clip} {bits}", run(f"{kind}/clip-{clip}{bits}", method="uniform", bits=bits, act_clip=clip))
             for bits in sorted({2} | {b for b in args.bit_list if b < 5}) for clip in CLIPS]  # clipping acts below 5
    return runs, clips


def _speed_rows(kind: str, source: SourceModel, data: DataSplits, args: argparse.Namespace) -> list[QuantizeSpeedRow]:
    from nasengine.quantize.int8 import int8_model

    qmodel, record = _run(source, data, QuantizeConfig(method="uniform", bits=8, calibration_images=256))
    int8 = int8_model(qmodel, record["int8"]["output_ranges"])
    images = torch.cat([x for x, _ in data.loaders(64, seed=0)[2]])
    rows = []
    for batch in SPEED_BATCHES:
        x = images[:batch]
        with torch.inference_mode():
            fp32_ms, int8_ms = time_calls([lambda: source.model(x), lambda: int8(x)], warmup=3,
                                          repeats=args.repeats, alternate=True, threads=args.threads)
        rows.append(QuantizeSpeedRow(
            kind="speed", backbone=kind, policy="uniform 8 on int8 kernels", batch=batch, threads=args.threads,
            fp32_ms=round(fp32_ms, 3), int8_ms=round(int8_ms, 3), speedup=round(fp32_ms / int8_ms, 3),
            int8_val_acc=round(record["int8"]["val_acc"], 4), float_acc=round(record["float_val_acc"], 4)))
    return rows


def _notes(args: argparse.Namespace) -> list[str]:
    return [f"{args.seeds} seeds (seeds vary the search and fine-tuning; calibration uses the first training images, so a "
            f"uniform policy's accuracy before fine-tuning is the same for every seed; each backbone is trained once, "
            f"{args.train_epochs} epochs at lr {args.train_lr})",
            f"HAQ: {args.episodes} episodes ({args.warmup} warm-up, noise decay {args.sigma_decay}), scored without "
            "fine-tuning by validation accuracy; the first episode plays the uniform policy it is held to (the "
            "reference; best_episode_per_seed 0 where it was kept), except in the hardware section, which runs HAQ's "
            "search as published; at equal size it decides weight bits only, activations staying at the uniform "
            "policy's bits (only weights cost size; HAQ's size experiments quantize weights only)",
            f"fine-tuning: {args.finetune_epochs} epoch(s) at lr {args.lr} for every policy",
            "acc_*: on the validation split, which HAQ selects its policy by; test_*: on the held-out test split; "
            "first and last layers at 8 bits in every policy",
            f"activation clipping of the policies below 5 bits: {args.act_clip}",
            f"latency_ms: modelled, not measured: {args.hardware}'s analytic model, MACs x weight bits x activation "
            f"bits / its peak one-bit products per second, per image (so equal modelled latency is equal BitOps)",
            "no HAQ run at the 8-bit size or latency: those limits admit every policy of 2..8 bits", *args.note]


def bench_quantize(args: argparse.Namespace) -> list[dict[str, Any]]:
    backbones = comma_names(args.backbones, BACKBONES, "--backbones")
    args.bit_list = _bits(args.bits)
    if not args.width_mult > 0:
        raise ValueError(f"--width-mult must be > 0, got {args.width_mult}")
    if not 0 < args.sigma_decay <= 1:
        raise ValueError(f"--sigma-decay must be in (0, 1], got {args.sigma_decay}")
    args.hardware_pair = comma_names(args.hardware_pair, tuple(ROOFLINES), "--hardware-pair") if args.hardware_pair else []
    if not 2 <= args.hardware_bits <= 8:
        raise ValueError(f"--hardware-bits must be in 2..8, got {args.hardware_bits}")
    for name in ("seeds", "episodes", "repeats", "threads", "train_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    require_same_settings(runs, "settings.json", args, RECORD_SETTINGS)
    data = load_dataset("digits", image_size=IMAGE_SIZE, channels=3)
    rows: list[Record] = []
    for kind in backbones:
        source = _source(kind, data, args, runs)
        run = _runner(kind, source, data, runs / f"records-{kind}.jsonl")
        policies, clips = _records(kind, source, args, run)
        rows += policy_rows(policies, latency_model(source, args.hardware), f"{args.hardware} (modelled, not measured)",
                            _notes(args))
        rows += clip_rows(clips)
        rows += _speed_rows(kind, source, data, args)
        print(f"quantize bench: {kind} float val acc {evaluate(source.model, data.loaders(64, seed=0)[1])['acc']:.4f}",
              file=sys.stderr, flush=True)
    if args.hardware_pair:
        source = _source("mobilenet", data, args, runs)
        rows += hardware_rows(source, _runner("mobilenet", source, data, runs / "records-mobilenet.jsonl"),
                              bits=args.hardware_bits, seeds=args.seeds, hardware=args.hardware_pair,
                              settings=_settings(args)[1], notes=_notes(args))
    return [row.to_dict() for row in rows]


def _quantize_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbones", default="vgg,resnet", help="comma-separated digits backbones (vgg, resnet)")
    p.add_argument("--bits", default="8,6,4,3", help="uniform bit widths; HAQ is run at each one's size")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--episodes", type=int, default=150, help="HAQ search episodes")
    p.add_argument("--warmup", type=int, default=10, help="HAQ warm-up episodes (random actions)")
    p.add_argument("--sigma-decay", type=float, default=0.99, help="HAQ's per-episode decay of exploration noise")
    p.add_argument("--finetune-epochs", type=int, default=1, help="quantization-aware fine-tuning of every policy")
    p.add_argument("--lr", type=float, default=0.001, help="fine-tuning learning rate")
    p.add_argument("--act-clip", default="kl", choices=CLIPS, help="activation clipping of the policy rows")
    p.add_argument("--hardware", default="bismo", choices=tuple(ACCELERATORS),
                   help="accelerator whose analytic latency model HAQ is also held to (a model, not a measurement)")
    p.add_argument("--hardware-pair", default="bismo-edge,bismo-cloud",
                   help="roofline-modelled accelerators HAQ quantizes the depthwise-separable backbone for, at each "
                        "one's latency of uniform --hardware-bits ('' skips that section)")
    p.add_argument("--hardware-bits", type=int, default=4, help="the uniform policy whose latency that section uses")
    p.add_argument("--train-epochs", type=int, default=15, help="training of each float backbone")
    p.add_argument("--train-lr", type=float, default=0.02, help="its learning rate (the VGG, without shortcuts, "
                                                                "ends near 0.96 at 0.05, near 0.997 at 0.02)")
    p.add_argument("--width-mult", type=float, default=1.0, help="scales the backbones' stage widths")
    p.add_argument("--repeats", type=int, default=30, help="timed rounds of the int8 speed rows")
    p.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    p.add_argument("--note", action="append", default=[], help="a note for the report's rows (repeatable)")
    p.add_argument("--runs", default="runs/bench-quantize", help="folder of the trained backbones and finished runs")


QUANTIZE_SUITE = BenchSuite(help="HAQ vs uniform 8/6/4/3-bit at equal size and modelled latency on the digits "
                                 "backbones (seeds), activation clipping, int8 CPU speedup, bits by edge/cloud "
                                 "hardware on a depthwise-separable backbone",
                            add_arguments=_quantize_arguments, run=bench_quantize)
