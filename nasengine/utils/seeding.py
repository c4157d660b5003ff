"""Seeds derived from a run's seed, so a resumed run draws exactly what it would have."""

from __future__ import annotations

import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of ``epoch`` in a run seeded with ``seed``."""
    return seed * 100_003 + epoch


def epoch_permutation(n: int, seed: int, epoch: int) -> list[int]:
    """The order in which ``epoch`` visits ``n`` examples."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch))).tolist()
