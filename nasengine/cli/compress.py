"""``nasengine compress``: prune a trained network to a MACs limit and fine-tune it."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from nasengine.cli.common import (
    UsageError,
    add_force_option,
    add_threads_option,
    apply_threads,
    invoked_command,
    parse_sets,
)
from nasengine.data import DATASETS


def add_parser(sub: argparse._SubParsersAction) -> None:
    from nasengine.compress.methods import METHODS

    p = sub.add_parser("compress", help="prune a trained network into a smaller one under a MACs limit")
    p.add_argument("--model", required=True,
                   help="export folder, arch JSON (with --weights), torchvision:NAME or timm:NAME (with --weights)")
    p.add_argument("--weights", help="local state dict file for an arch or a torchvision / timm model")
    p.add_argument("--image-size", type=int, help="input size of a torchvision / timm model (default 224)")
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--data-root", help="folder of a local dataset (cifar10, cifar100, imagefolder)")
    p.add_argument("--max-macs", required=True, help="MACs limit: absolute (40M) or of the source's (25%%, 0.25)")
    p.add_argument("--method", default="l1", choices=tuple(METHODS),
                   help="; ".join(f"{name}: {m.help}" for name, m in METHODS.items()))
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting of the method (repeatable)")
    p.add_argument("--finetune-epochs", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning learning rate")
    p.add_argument("--calibration-images", type=int, default=256,
                   help="training images whose feature maps LASSO and reconstruction sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    add_force_option(p, "the files in a non-empty --out")
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_compress)


#: Options that change what an interrupted compression resumes (checked against settings.json).
_SETTINGS = ("model", "weights", "image_size", "dataset", "data_root", "max_macs", "method", "set", "finetune_epochs",
             "lr", "calibration_images", "seed")


def _searching(out: Path) -> bool:
    """Whether ``out`` holds a method's unfinished search (its checkpoints in ``method/``, no record yet)."""
    from nasengine.records.compress import CompressRecord

    method = out / "method"
    return method.is_dir() and any(method.iterdir()) and not (out / CompressRecord.FILE).exists()


def cmd_compress(args: argparse.Namespace) -> int:
    from nasengine.compress.layers import PruningError
    from nasengine.compress.run import CompressConfig, compress
    from nasengine.compress.source import load_source
    from nasengine.cost import human
    from nasengine.data import load_dataset
    from nasengine.export.compressed import export_compressed
    from nasengine.records.base import read_json
    from nasengine.records.compress import CompressRecord
    from nasengine.utils.files import save_json_atomic
    from nasengine.utils.run_folder import refuse_existing, require_same
    from nasengine.utils.validation import output_path

    out = output_path("--out", args.out, folder=True)
    checkpoint, settings_file = out / "finetune.pt", out / "settings.json"
    settings = {k: getattr(args, k) for k in _SETTINGS}
    if args.force:  # start over: the fine-tune's and the method's checkpoints go
        checkpoint.unlink(missing_ok=True)
        shutil.rmtree(out / "method", ignore_errors=True)
    elif not checkpoint.is_file() and not _searching(out):  # an interrupted fine-tune or search resumes
        refuse_existing(out, "--out")
    elif settings_file.is_file():  # ... under the settings it started with, or not at all
        require_same(str(out), read_json(settings_file), settings)
    apply_threads(args.threads)
    try:
        cfg = CompressConfig(method=args.method, max_macs=args.max_macs, finetune_epochs=args.finetune_epochs,
                             lr=args.lr, calibration_images=args.calibration_images, seed=args.seed,
                             options=parse_sets(args.set))
        source = load_source(args.model, weights=args.weights, image_size=args.image_size)
        channels, size = source.input_shape[0], source.input_shape[1]
        data = load_dataset(args.dataset, data_root=args.data_root, image_size=size, channels=channels)
        if data.num_classes != source.num_classes:
            raise UsageError(f"--model has {source.num_classes} outputs but --dataset {args.dataset} has "
                             f"{data.num_classes} classes")
        save_json_atomic(settings, settings_file)  # once the inputs are known good: bad input writes nothing
        model, record = compress(source, data, cfg, checkpoint=checkpoint, workdir=out / "method", tensorboard=out / "tb",
                                 progress=not args.quiet, command=invoked_command(args))
        record = export_compressed(model, record, out)
    except PruningError as exc:
        raise UsageError(str(exc)) from None
    src, new = record.source_cost, record.cost
    print(f"{args.method}: {human(src['macs'])} -> {human(new['macs'])} MACs, {human(src['params'])} -> "
          f"{human(new['params'])} params; val acc {record.source_val_acc:.4f} -> {record.pruned_val_acc:.4f}"
          + (f" -> {record.finetuned_val_acc:.4f} fine-tuned" if record.finetuned_val_acc is not None else ""))
    print(f"wrote {out / CompressRecord.FILE}")
    return 0
