"""``nasengine train``: train one architecture standalone and save weights and metrics."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nasengine.arch import choices_line
from nasengine.cli.common import (
    UsageError,
    add_force_option,
    add_threads_option,
    apply_threads,
    parse_sets,
    read_arch_text,
    resolve_arch,
)
from nasengine.data import DATASETS
from nasengine.train.loop import OPTIMIZERS, TrainConfig
from nasengine.train.run import train_arch
from nasengine.utils.progress import EpochLog


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one architecture from scratch")
    p.add_argument("--arch", required=True, help="arch JSON file, export folder, inline JSON, or preset name")
    p.add_argument("--space", help="space name (needed for presets and bare choices)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--data-root", help="folder of a local dataset (cifar10, cifar100, imagefolder)")
    p.add_argument("--epochs", type=int, default=10)
    tuned = "the export's tuned value (hparams in arch.json), else"
    p.add_argument("--batch-size", type=int, help=f"default: {tuned} {TrainConfig.batch_size}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default: {tuned} {TrainConfig.optimizer}")
    p.add_argument("--lr", type=float, help=f"default: {tuned} {TrainConfig.lr}")
    p.add_argument("--weight-decay", type=float, help=f"default: {tuned} {TrainConfig.weight_decay}")
    p.add_argument("--momentum", type=float, help=f"default: {tuned} {TrainConfig.momentum}")
    p.add_argument("--label-smoothing", type=float, help=f"default: {tuned} {TrainConfig.label_smoothing}")
    p.add_argument("--augment", action="store_true", help="random crop + flip (CIFAR, ImageFolder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--out", required=True,
                   help="output folder (an unfinished run in it resumes; other settings are refused)")
    add_force_option(p, "the run in --out (another run, or a finished one): start over")
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    space, arch = resolve_arch(args.arch, args.space, parse_sets(args.set))
    settings = {**tuned_hparams(args.arch)}
    for name in ("batch_size", "optimizer", "lr", "weight_decay", "momentum", "label_smoothing"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, device=args.device, **settings)
    apply_threads(args.threads)
    metrics = train_arch(space, arch, cfg, args.out, dataset=args.dataset, data_root=args.data_root,
                         augment=args.augment, progress=not args.quiet,
                         on_epoch=EpochLog(cfg.epochs, enabled=not args.quiet), force=args.force)
    if settings:
        print(f"training settings: {choices_line(settings)}")
    print(f"val acc {metrics['val_acc']:.4f}  test acc {metrics['test_acc']:.4f}  ({space.cost(arch)})")
    print(f"saved weights, metrics and config in {args.out}/")
    return 0


def tuned_hparams(arch_arg: str) -> dict[str, Any]:
    """The training settings a search tuned for the arch of ``--arch`` (its export's
    ``hparams``; empty for other arch files, inline JSON and presets)."""
    text = read_arch_text(arch_arg)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}  # resolve_arch has reported it
    hparams = data.get("hparams") if isinstance(data, dict) else None
    if hparams is None:
        return {}
    if not isinstance(hparams, dict):
        raise UsageError(f"--arch {arch_arg}: 'hparams' must be an object of training settings, got {hparams!r}")
    unknown = sorted(set(hparams) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise UsageError(f"--arch {arch_arg}: unknown training setting(s) {unknown} in 'hparams'")
    return dict(hparams)
