"""Datasets: scikit-learn's real digits (embedded default), cluttered digits generated from
them (``nasengine.data.cluttered``), CIFAR-10/100 and ImageFolder
from a local ``--data-root`` (never downloaded), and synthetic ``fake`` data.

Data adapts to the model: ``image_size`` resizes and ``channels`` repeats grey images, so
any architecture of a space can train on digits.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from nasengine.data import vision
from nasengine.data.cluttered import ClutterConfig, cluttered_digits
from nasengine.data.splits import DataError, DataSplits, per_channel, split

__all__ = ["DATASETS", "DataError", "DataSplits", "load_dataset"]

DATASETS = ("digits", "cluttered", "cifar10", "cifar100", "imagefolder", "fake")


def load_dataset(
    name: str = "digits",
    *,
    data_root: str | Path | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    augment: bool = False,
    split_seed: int = 0,
) -> DataSplits:
    """Load ``name`` with deterministic train/val/test splits.

    Args:
        name: One of ``DATASETS``.
        data_root: Folder holding CIFAR (``cifar-10-batches-py``...) or an ImageFolder tree
            (``train/`` and optionally ``val/`` and ``test/``).
        image_size: Resize images to this square size (defaults to the native size).
        channels: Repeat single-channel images to this many channels (1 or 3).
        augment: Random crop + flip on the training split (CIFAR / ImageFolder).
        split_seed: Seed of the fixed split permutation (not the training seed).
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if image_size is not None and image_size < 1:
        raise DataError(f"image_size must be >= 1, got {image_size}")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if name == "digits":
        return _digits(image_size, channels, split_seed)
    if name == "cluttered":
        return _resized(cluttered_digits(ClutterConfig(), split_seed), image_size, channels)
    if name == "fake":
        return _fake(image_size or 32, channels or 3, split_seed)
    if data_root is None:
        raise DataError(f"dataset {name!r} needs --data-root pointing at a local copy (nothing is downloaded)")
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"--data-root {str(root)!r} is not a directory")
    if name in ("cifar10", "cifar100"):
        return vision.cifar(name, root, image_size, augment, split_seed)
    return vision.imagefolder(root, image_size, augment, split_seed)


def _digits(image_size: int | None, channels: int | None, split_seed: int) -> DataSplits:
    from sklearn.datasets import load_digits  # ships its data: works offline

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    mean, std = images.mean(), images.std()
    images = (images - mean) / std
    size = image_size or 8
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    if channels == 3:
        images = images.repeat(1, 3, 1, 1)
    n = channels or 1
    return split("digits", TensorDataset(images, labels), 10, n, size, split_seed, mean=per_channel(mean, n),
                 std=per_channel(std, n), interpolation="bilinear")


def _resized(data: DataSplits, image_size: int | None, channels: int | None) -> DataSplits:
    """``data`` (tensor datasets, grey, normalised by one mean and std) resized to
    ``image_size`` and repeated to ``channels``."""
    size = image_size or data.image_size
    if size == data.image_size and channels in (None, 1):
        return data

    def adapt(part: TensorDataset) -> TensorDataset:
        images, labels = part.tensors
        if size != data.image_size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return TensorDataset(images.repeat(1, 3, 1, 1) if channels == 3 else images, labels)

    n = channels or 1
    mean, std = (None if v is None else per_channel(v[0], n) for v in (data.mean, data.std))
    return replace(data, train=adapt(data.train), val=adapt(data.val), test=adapt(data.test),  # type: ignore[arg-type]
                   in_channels=n, image_size=size, mean=mean, std=std)


def _fake(image_size: int, channels: int, split_seed: int, n: int = 512, classes: int = 10) -> DataSplits:
    gen = torch.Generator().manual_seed(split_seed)
    images = torch.randn(n, channels, image_size, image_size, generator=gen)
    labels = torch.randint(0, classes, (n,), generator=gen)
    return split("fake", TensorDataset(images, labels), classes, channels, image_size, split_seed)
