"""``nasengine bench quantize``: HAQ against uniform bit widths at equal model size and at
equal modelled latency.

On the plain digits backbones of ``bench compress`` (:func:`nasengine.bench.compress_measures.
plain_backbone`, 32x32, trained here once per backbone), for each seed: the uniform policies
(every layer at ``k`` bits, the first and last at 8 as HAQ keeps them), and for each uniform
policy below 8 bits two HAQ searches, one under its exact size and one under its latency on
an accelerator's analytic model (``--hardware``, :mod:`nasengine.quantize.hardware`; a
model, not a measurement), all fine-tuned for the same epochs. Rows (``kind``,
:mod:`nasengine.records.bench_quantize`):

* ``policy``: per backbone and policy, the exact size, the modelled latency, validation
  accuracy right after quantization and after fine-tuning (mean ± std over seeds), the
  difference from the uniform policy it is held to, and the per-layer bits;
* ``clip``: uniform 2-bit and the uniform policies below 5 bits with each activation
  clipping, before fine-tuning (one run each: no seed enters it);
* ``speed``: the 8-bit network on PyTorch's int8 x86 kernels against the float one, at
  batch 1 and 64 (milliseconds per batch, timed interleaved in one process, median).

Finished runs are appended to ``--runs``/records-*.jsonl as they end; a rerun skips them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from nasengine.bench.base import BenchSuite, comma_names
from nasengine.bench.compress_measures import BACKBONE_WIDTHS, plain_backbone
from nasengine.bench.quantize_rows import LabelledRun, clip_rows, policy_rows
from nasengine.compress.source import SourceModel
from nasengine.data import DataSplits, load_dataset
from nasengine.quantize.calibrate import CLIPS
from nasengine.quantize.hardware import ACCELERATORS, analytic_table
from nasengine.quantize.layers import quantizable_layers
from nasengine.quantize.run import QuantizeConfig, quantize
from nasengine.records.base import Record
from nasengine.records.bench_quantize import Bits, QuantizeRun, QuantizeSpeedRow
from nasengine.train.loop import TrainConfig, evaluate, fit
from nasengine.utils.timing import time_calls

BACKBONES = tuple(BACKBONE_WIDTHS)
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
    """The trained backbone (cached in ``runs``)."""
    torch.manual_seed(0)
    model = plain_backbone(kind, args.width_mult)
    path = runs / f"plain-{kind}-x{args.width_mult}-e{args.train_epochs}lr{args.train_lr}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
    else:
        train, val, _ = data.loaders(64, seed=0)
        fit(model, train, val, TrainConfig(epochs=args.train_epochs, lr=args.train_lr, seed=0))
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


def _latency_model(source: SourceModel, hardware: str) -> Callable[[Bits], float]:
    """The modelled latency (ms per image) of a policy of ``source`` on accelerator ``hardware``."""
    layers = quantizable_layers(source.model, torch.zeros(2, *source.input_shape))
    cost = analytic_table(hardware, layers).cost(layers)
    return lambda bits: cost([tuple(pair) for pair in bits.values()])


def _records(kind: str, source: SourceModel, data: DataSplits, args: argparse.Namespace,
             log: Path) -> tuple[list[LabelledRun], list[tuple[str, QuantizeRun]]]:
    """The backbone's policy runs (labelled) and clipping runs, each run once and logged to ``log``."""
    done = _done(log)
    latency = _latency_model(source, args.hardware)

    def run(key: str, **settings: Any) -> QuantizeRun:
        if key not in done:
            _, record = _run(source, data, QuantizeConfig(**settings))
            done[key] = QuantizeRun.from_dict({"key": key, "backbone": kind, **{k: record[k] for k in (
                "policy", "size_bits", "float_size_bits", "bitops", "float_val_acc", "quantized_val_acc",
                "finetuned_val_acc", "test_acc")}, "best_episode": (record["search"] or {}).get("episode")})
            with log.open("a") as f:
                f.write(json.dumps(done[key].to_dict()) + "\n")
            print(f"quantize bench: {key} {done[key].quantized_val_acc:.4f} -> {done[key].finetuned_val_acc}",
                  file=sys.stderr, flush=True)
        return done[key]

    common = {"finetune_epochs": args.finetune_epochs, "lr": args.lr, "act_clip": args.act_clip}
    search = {"options": {"episodes": args.episodes, "warmup": args.warmup}, **common}
    runs: list[LabelledRun] = []
    for seed in range(args.seeds):
        for bits in args.bit_list:
            uniform = run(f"{kind}/uniform{bits}/s{seed}", method="uniform", bits=bits, seed=seed, **common)
            runs.append((f"uniform {bits}", uniform, None, None))
            if bits == 8:  # the 8-bit size and latency admit every policy of 2..8 bits: no limit to search under
                continue
            haq = run(f"{kind}/haq{bits}/s{seed}", method="haq", max_size=str(uniform.size_bits), seed=seed, **search)
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
    return [f"{args.seeds} seeds (seeds vary calibration, search and fine-tuning; each backbone is trained once, "
            f"{args.train_epochs} epochs at lr {args.train_lr})",
            f"HAQ: {args.episodes} episodes ({args.warmup} warm-up), scored without fine-tuning",
            f"fine-tuning: {args.finetune_epochs} epoch(s) at lr {args.lr} for every policy",
            "accuracies on the validation split; first and last layers at 8 bits in every policy",
            f"activation clipping of the policies below 5 bits: {args.act_clip}",
            f"latency_ms: modelled, not measured: {args.hardware}'s analytic model, MACs x weight bits x activation "
            f"bits / its peak one-bit products per second, per image (so equal modelled latency is equal BitOps)",
            "no HAQ run at the 8-bit size or latency: those limits admit every policy of 2..8 bits", *args.note]


def bench_quantize(args: argparse.Namespace) -> list[dict[str, Any]]:
    backbones = comma_names(args.backbones, BACKBONES, "--backbones")
    args.bit_list = _bits(args.bits)
    if not args.width_mult > 0:
        raise ValueError(f"--width-mult must be > 0, got {args.width_mult}")
    for name in ("seeds", "episodes", "repeats", "threads", "train_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    data = load_dataset("digits", image_size=IMAGE_SIZE, channels=3)
    rows: list[Record] = []
    for kind in backbones:
        source = _source(kind, data, args, runs)
        log = runs / (f"records-{kind}-x{args.width_mult}-e{args.episodes}w{args.warmup}-f{args.finetune_epochs}"
                      f"lr{args.lr}-{args.act_clip}.jsonl")
        policies, clips = _records(kind, source, data, args, log)
        rows += policy_rows(policies, _latency_model(source, args.hardware), f"{args.hardware} (modelled, not measured)",
                            _notes(args))
        rows += clip_rows(clips)
        rows += _speed_rows(kind, source, data, args)
        print(f"quantize bench: {kind} float val acc {evaluate(source.model, data.loaders(64, seed=0)[1])['acc']:.4f}",
              file=sys.stderr, flush=True)
    return [row.to_dict() for row in rows]


def _quantize_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbones", default="vgg,resnet", help="comma-separated digits backbones (vgg, resnet)")
    p.add_argument("--bits", default="8,6,4,3", help="uniform bit widths; HAQ is run at each one's size")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--episodes", type=int, default=40, help="HAQ search episodes")
    p.add_argument("--warmup", type=int, default=10, help="HAQ warm-up episodes (random actions)")
    p.add_argument("--finetune-epochs", type=int, default=1, help="quantization-aware fine-tuning of every policy")
    p.add_argument("--lr", type=float, default=0.001, help="fine-tuning learning rate")
    p.add_argument("--act-clip", default="kl", choices=CLIPS, help="activation clipping of the policy rows")
    p.add_argument("--hardware", default="bismo", choices=tuple(ACCELERATORS),
                   help="accelerator whose analytic latency model HAQ is also held to (a model, not a measurement)")
    p.add_argument("--train-epochs", type=int, default=15, help="training of each float backbone")
    p.add_argument("--train-lr", type=float, default=0.02, help="its learning rate (the VGG, without shortcuts, "
                                                                "ends near 0.96 at 0.05, near 0.997 at 0.02)")
    p.add_argument("--width-mult", type=float, default=1.0, help="scales the backbones' stage widths")
    p.add_argument("--repeats", type=int, default=30, help="timed rounds of the int8 speed rows")
    p.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    p.add_argument("--note", action="append", default=[], help="a note for the report's rows (repeatable)")
    p.add_argument("--runs", default="runs/bench-quantize", help="folder of the trained backbones and finished runs")


QUANTIZE_SUITE = BenchSuite(help="HAQ vs uniform 8/6/4/3-bit at equal size and modelled latency on the digits "
                                 "backbones (seeds), "
                                 "activation clipping, int8 CPU speedup",
                            add_arguments=_quantize_arguments, run=bench_quantize)
