"""Datasets: ``load_dataset`` returns ``DataSplits``; ``load_space_data`` adapts one to a
search space; ``DataError`` when data cannot be read or does not fit."""

from __future__ import annotations

from nasengine.data.datasets import DATASETS, load_dataset
from nasengine.data.space_data import load_space_data
from nasengine.data.splits import DataError, DataSplits

__all__ = ["DATASETS", "DataError", "DataSplits", "load_dataset", "load_space_data"]
