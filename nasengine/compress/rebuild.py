"""Rebuilding a compressed network from its record: the source network's code (an arch of a
space, or a torchvision / timm name), pruned to the recorded channel counts, then its
``weights.pt``. Nothing in the folder runs code; ``nasengine.load`` reads it so."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from nasengine.compress.layers import PruningError
from nasengine.records.compress import CompressRecord
from nasengine.utils.safe_load import load_checkpoint


def rebuildable(source: Mapping[str, Any]) -> bool:
    """Whether a network compressed from ``source`` (a record's ``source``) can be rebuilt
    from code: archs of our spaces and torchvision / timm names can, Python modules cannot."""
    return source.get("kind") in ("export", "arch", "torchvision", "timm")


def skeleton(source: Mapping[str, Any]) -> nn.Module:
    """The source network's structure with fresh weights."""
    kind = source.get("kind")
    if kind in ("export", "arch"):
        from nasengine.arch import Arch
        from nasengine.registry import get_space

        arch = Arch.from_dict(source["arch"])
        return get_space(arch.space, **dict(arch.config)).build(arch)
    if kind in ("torchvision", "timm"):
        from nasengine.compress.source import zoo_builder

        return zoo_builder(kind, source["name"])(source.get("num_classes"))
    raise PruningError(f"a network compressed from {kind!r} cannot be rebuilt from code; load its model.pt2")


def rebuild(source: Mapping[str, Any], input_shape: Sequence[int], channels: Mapping[str, int]) -> nn.Module:
    """The pruned structure: ``skeleton(source)`` with ``channels`` output channels per layer."""
    from nasengine.compress.prune import prune_to_channels

    return prune_to_channels(skeleton(source).eval(), (1, *input_shape), channels, selection="first")


def load_compressed(folder: str | Path) -> nn.Module:
    """The compressed network in ``folder`` (``compress.json`` + ``weights.pt``), in eval mode."""
    folder = Path(folder)
    record = CompressRecord.load(folder / CompressRecord.FILE)
    model = rebuild(record.source, record.input_shape, record.channels)
    model.load_state_dict(load_checkpoint(folder / "weights.pt", what="weights"))
    return model.eval()
