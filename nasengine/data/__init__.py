"""Datasets: ``load_dataset`` returns ``DataSplits``; ``DataError`` when it cannot."""

from __future__ import annotations

from nasengine.data.datasets import DATASETS, load_dataset
from nasengine.data.splits import DataError, DataSplits

__all__ = ["DATASETS", "DataError", "DataSplits", "load_dataset"]
