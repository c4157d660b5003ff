"""What every dataset reader returns: the splits, the error type, the seeded order.

Both the built-in readers (``datasets``) and the torchvision-backed ones (``vision``)
import from here, so neither needs the other's names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset


class DataError(ValueError):
    """A dataset cannot be loaded as asked (unknown name, missing files)."""


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test splits and what a model needs to know about them.

    ``mean`` and ``std`` (one value per channel) are the normalisation that maps raw pixel
    values in [0, 1] to the tensors the splits hold, ``interpolation`` how images were
    resized; ``None`` where the data has no such mapping (synthetic data).
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None

    def preprocessing(self) -> dict[str, Any]:
        """What a deployed model needs to prepare its inputs as these splits were prepared
        (the ``preprocessing`` entry of ``arch.json``)."""
        return {"dataset": self.name, "input_size": self.image_size, "channels": self.in_channels,
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std), "interpolation": self.interpolation}

    def loaders(self, batch_size: int, *, seed: int = 0, num_workers: int = 0) -> tuple[DataLoader, DataLoader, DataLoader]:
        """Shuffled (seeded) train loader; ordered val and test loaders.

        Small images are evaluated in batches 4x larger: there the time goes to per-call
        overhead, not arithmetic, and evaluation results do not depend on the batch size.
        """
        eval_batch = batch_size * 4 if self.image_size <= 64 else batch_size
        n_train = len(self.train)  # type: ignore[arg-type]  # map-style datasets have a length
        train = DataLoader(self.train, batch_size=batch_size, sampler=EpochShuffle(n_train, seed),
                           num_workers=num_workers, drop_last=n_train > batch_size)
        val = DataLoader(self.val, batch_size=eval_batch, num_workers=num_workers)
        test = DataLoader(self.test, batch_size=eval_batch, num_workers=num_workers)
        return train, val, test


class EpochShuffle(Sampler[int]):
    """Shuffles with a seed derived from (seed, epoch): a resumed run sees the same order."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


def per_channel(value: float | torch.Tensor, channels: int) -> tuple[float, ...]:
    """One grey statistic (a number or a 0-d tensor) as the per-channel tuple of an image
    repeated to ``channels``."""
    return (float(value),) * channels


def split_order(n: int, seed: int) -> list[int]:
    """The fixed permutation of ``n`` samples that a split seed stands for."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def split(name: str, full: Dataset, classes: int, channels: int, size: int, seed: int,
          fractions: tuple[float, float] = (0.6, 0.2), **preprocessing: Any) -> DataSplits:
    """Split ``full`` into train / val / test by ``fractions`` (the rest is test), seeded;
    ``preprocessing`` (``mean``, ``std``, ``interpolation``) is recorded as given."""
    n = len(full)  # type: ignore[arg-type]  # map-style datasets have a length
    order = split_order(n, seed)
    n_train, n_val = int(n * fractions[0]), int(n * fractions[1])
    return DataSplits(
        name,
        Subset(full, order[:n_train]),
        Subset(full, order[n_train : n_train + n_val]),
        Subset(full, order[n_train + n_val :]),
        classes,
        channels,
        size,
        **preprocessing,
    )
