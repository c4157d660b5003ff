"""What ``nasengine compress`` and ``nasengine quantize`` share: the trained network and
dataset options, and an output folder that an interrupted run resumes in."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from nasengine.cli.common import UsageError, add_force_option, add_threads_option
from nasengine.data import DATASETS

if TYPE_CHECKING:
    from nasengine.compress.source import SourceModel
    from nasengine.data import DataSplits


def add_source_options(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--weights``, ``--image-size``, ``--dataset``, ``--data-root``."""
    p.add_argument("--model", required=True,
                   help="export folder, arch JSON (with --weights), torchvision:NAME or timm:NAME (with --weights)")
    p.add_argument("--weights", help="local state dict file for an arch or a torchvision / timm model")
    p.add_argument("--image-size", type=int, help="input size of a torchvision / timm model (default 224)")
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--data-root", help="folder of a local dataset (cifar10, cifar100, imagefolder)")


def add_finetune_options(p: argparse.ArgumentParser, *, lr: float, calibration: str) -> None:
    """``--finetune-epochs``, ``--lr`` (default ``lr``) and ``--calibration-images`` (what
    they are for: ``calibration``)."""
    p.add_argument("--finetune-epochs", type=int, default=0, help="epochs of fine-tuning")
    p.add_argument("--lr", type=float, default=lr, help="fine-tuning learning rate")
    p.add_argument("--calibration-images", type=int, default=256, help=f"training images that {calibration}")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--set``, ``--seed``, ``--out``, ``--force``, ``--threads``, ``--quiet``."""
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting of the method (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    add_force_option(p, "the files in a non-empty --out")
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def prepare_out(out: Path, settings: Mapping[str, Any], *, force: bool, record: str,
                checkpoint: Path) -> None:
    """Make ``out`` ready: with ``force`` its checkpoints go (the fine-tune's and those in
    ``method/``); an interrupted run (a checkpoint, or a search in ``method/`` without the
    ``record`` file) resumes only under the ``settings`` it started with; any other
    non-empty folder is refused."""
    from nasengine.records.base import read_json
    from nasengine.utils.run_folder import refuse_existing, require_same

    method = out / "method"
    searching = method.is_dir() and any(method.iterdir()) and not (out / record).exists()
    settings_file = out / "settings.json"
    if force:
        checkpoint.unlink(missing_ok=True)
        shutil.rmtree(method, ignore_errors=True)
    elif not checkpoint.is_file() and not searching:
        refuse_existing(out, "--out")
    elif settings_file.is_file():
        require_same(str(out), read_json(settings_file), settings)


def load_source_and_data(args: argparse.Namespace) -> tuple[SourceModel, DataSplits]:
    """The network ``--model`` names and the dataset it must classify.

    Raises:
        PruningError: The model cannot be loaded.
        UsageError: Its outputs do not match the dataset's classes.
    """
    from nasengine.compress.source import load_source
    from nasengine.data import load_dataset

    source = load_source(args.model, weights=args.weights, image_size=args.image_size)
    channels, size = source.input_shape[0], source.input_shape[1]
    data = load_dataset(args.dataset, data_root=args.data_root, image_size=size, channels=channels)
    if data.num_classes != source.num_classes:
        raise UsageError(f"--model has {source.num_classes} outputs but --dataset {args.dataset} has "
                         f"{data.num_classes} classes")
    return source, data
