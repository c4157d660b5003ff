"""The dataset a search space trains on: resized to the space's input, classes checked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nasengine.data.datasets import DataError, DataSplits, load_dataset

if TYPE_CHECKING:  # only for the annotation: the data package does not need the space module
    from nasengine.space import SearchSpace


def load_space_data(space: SearchSpace, dataset: str, data_root: str | Path | None = None, *,
                    augment: bool = False) -> DataSplits:
    """``dataset`` at the input size and channel count of ``space``.

    Args:
        space: The search space whose config fixes ``input_size``, ``in_channels`` and
            ``num_classes``.
        dataset, data_root, augment: As for ``load_dataset``.

    Raises:
        DataError: The dataset's class count is not the space's (the message names the
            ``--set num_classes=N`` that fixes it).
    """
    cfg = space.config
    data = load_dataset(dataset, data_root=data_root, image_size=cfg.input_size, channels=cfg.in_channels,
                        augment=augment)
    if data.num_classes != cfg.num_classes:
        raise DataError(f"{dataset} has {data.num_classes} classes but the space has num_classes="
                        f"{cfg.num_classes}; add --set num_classes={data.num_classes}")
    return data
