"""``nasengine train``: train one architecture standalone and save weights and metrics."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from nasengine.cli.common import UsageError, parse_sets, resolve_arch
from nasengine.data.datasets import DATASETS, load_dataset
from nasengine.train.loop import OPTIMIZERS, TrainConfig, evaluate, fit


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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    space, arch = resolve_arch(args.arch, args.space, parse_sets(args.set))
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: CUDA is not available on this machine")
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                      weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, seed=args.seed,
                      device=args.device)
    data = load_dataset(args.dataset, data_root=args.data_root, image_size=space.config.input_size,
                        channels=space.config.in_channels, augment=args.augment)
    if data.num_classes != space.config.num_classes:
        raise UsageError(f"{args.dataset} has {data.num_classes} classes but the architecture has "
                         f"num_classes={space.config.num_classes}; add --set num_classes={data.num_classes}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "arch.json").write_text(arch.to_json(indent=2) + "\n")
    resolved = {"space": arch.space, "space_config": space.config.to_dict(), "train": cfg.to_dict(),
                "dataset": {"name": args.dataset, "data_root": args.data_root, "augment": args.augment}}
    (out / "config.yaml").write_text(yaml.safe_dump(_plain(resolved), sort_keys=False))

    torch.manual_seed(args.seed)
    model = space.build(arch)
    train_loader, val_loader, test_loader = data.loaders(cfg.batch_size, seed=args.seed)
    t0 = time.perf_counter()

    def report(record: dict) -> None:
        print(f"epoch {record['epoch']:>3}  loss {record['train_loss']:.4f}  val acc {record['val_acc']:.4f}", flush=True)

    history = fit(model, train_loader, val_loader, cfg, checkpoint=out / "checkpoint.pt", progress=not args.quiet,
                  on_epoch=report)
    test = evaluate(model, test_loader, device=cfg.device)
    torch.save(model.state_dict(), out / "weights.pt")
    cost = space.cost(arch)
    metrics = {"arch_id": arch.id, "cost": cost.to_dict(), "val_acc": history[-1]["val_acc"], "test_acc": test["acc"],
               "history": history, "seconds": time.perf_counter() - t0}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "checkpoint.pt").unlink(missing_ok=True)
    print(f"val acc {metrics['val_acc']:.4f}  test acc {test['acc']:.4f}  ({cost})")
    print(f"saved weights, metrics and config in {out}/")
    return 0


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
