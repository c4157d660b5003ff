"""``compress.json``: what ``nasengine compress`` made of a network, and how to rebuild it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from nasengine.records.base import Record
from nasengine.records.export import Preprocessing


@dataclass(frozen=True)
class CompressRecord(Record):
    """A compressed network's record, next to its ``weights.pt`` and ``model.pt2``.

    Attributes:
        method: The compression method (a name in ``nasengine.compress.METHODS``).
        config: The compression settings (``CompressConfig``).
        source: Where the source network came from: ``kind`` is ``export`` or ``arch`` (with
            ``arch``), ``torchvision`` or ``timm`` (with ``name`` and ``num_classes``), or
            ``module`` (a Python module: only ``model.pt2`` restores it).
        input_shape: One input's shape ``(C, H, W)``.
        limit_macs: The MACs limit, per image.
        source_cost: ``{"macs", "params"}`` of the source (fvcore's MACs).
        cost: The same of the compressed network.
        source_val_acc: Validation accuracy of the source.
        pruned_val_acc: Of the pruned network before fine-tuning.
        finetuned_val_acc: After fine-tuning (``None`` without).
        test_acc: Test accuracy of the result.
        epochs: Fine-tuning epochs run.
        ratios: Preserve ratio per prunable layer.
        source_channels: Output channels per prunable layer in the source.
        channels: Output channels per prunable layer kept (rebuilds the network).
        parity: Largest output difference of each exported form from the network.
        preprocessing: How inputs are prepared (the data's).
        command: The command line that made it.
        latency: With a latency limit: the table, the limit, and the predicted and measured
            milliseconds of the source and of the result (``*_ms``), with the timing.
    """

    FILE: ClassVar[str] = "compress.json"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("preprocessing", "command", "latency")

    method: str
    config: dict[str, Any]
    source: dict[str, Any]
    input_shape: tuple[int, ...]
    limit_macs: int
    source_cost: dict[str, int]
    cost: dict[str, int]
    source_val_acc: float
    pruned_val_acc: float
    finetuned_val_acc: float | None
    test_acc: float
    epochs: int
    ratios: dict[str, float]
    source_channels: dict[str, int]
    channels: dict[str, int]
    parity: dict[str, float] = field(default_factory=dict)
    preprocessing: Preprocessing | None = None
    command: str | None = None
    latency: dict[str, Any] | None = None
