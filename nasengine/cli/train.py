"""``nasengine train``: train one architecture standalone and save weights and metrics."""

from __future__ import annotations

import argparse

from nasengine.cli.common import parse_sets, resolve_arch
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
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--augment", action="store_true", help="random crop + flip (CIFAR, ImageFolder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--out", required=True, help="output folder (an unfinished run in it resumes)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    space, arch = resolve_arch(args.arch, args.space, parse_sets(args.set))
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                      weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, seed=args.seed,
                      device=args.device)
    metrics = train_arch(space, arch, cfg, args.out, dataset=args.dataset, data_root=args.data_root,
                         augment=args.augment, progress=not args.quiet,
                         on_epoch=EpochLog(cfg.epochs, enabled=not args.quiet))
    print(f"val acc {metrics['val_acc']:.4f}  test acc {metrics['test_acc']:.4f}  ({space.cost(arch)})")
    print(f"saved weights, metrics and config in {args.out}/")
    return 0
