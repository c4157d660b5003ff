"""The shared split types: the public ``nasengine.data`` names and the seeded orders."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

import nasengine.data as data
from nasengine.data.splits import EpochShuffle, split


def test_public_names_are_the_loader_and_its_types():
    assert set(data.__all__) == {"DATASETS", "DataError", "DataSplits", "load_dataset", "load_space_data"}
    assert isinstance(data.load_dataset("fake", image_size=4), data.DataSplits)


def test_epoch_shuffle_is_a_permutation_fixed_by_seed_and_epoch():
    sampler = EpochShuffle(50, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(50)) and list(EpochShuffle(50, seed=3)) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    resumed = EpochShuffle(50, seed=3)
    resumed.set_epoch(1)
    assert list(resumed) == second  # a run resumed at epoch 1 sees the same order


def test_split_partitions_by_fractions_and_seed():
    full = TensorDataset(torch.arange(100), torch.zeros(100))
    s = split("x", full, classes=2, channels=1, size=1, seed=0)
    parts = [set(p.indices) for p in (s.train, s.val, s.test)]
    assert [len(p) for p in parts] == [60, 20, 20] and set().union(*parts) == set(range(100))
    assert split("x", full, 2, 1, 1, seed=0).train.indices == s.train.indices
    assert split("x", full, 2, 1, 1, seed=1).train.indices != s.train.indices
