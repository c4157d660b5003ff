"""Fine-tuning of a compressed network (pruned or quantized): ``fit`` resumable from a
checkpoint, with each epoch's numbers as TensorBoard scalars under ``finetune/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from nasengine.train.loop import TrainConfig, fit

__all__ = ["finetune"]


def finetune(model: nn.Module, train: DataLoader, val: DataLoader | None, cfg: TrainConfig, *,
             checkpoint: str | Path | None = None, tensorboard: str | Path | None = None,
             progress: bool = False) -> list[dict[str, Any]]:
    """``fit(model, ...)`` with the checkpoint's folder made and TensorBoard logs in
    ``tensorboard`` (when given); returns its per-epoch records."""
    if checkpoint is not None:
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
    log = _EpochLog(Path(tensorboard)) if tensorboard is not None else None
    try:
        return fit(model, train, val, cfg, checkpoint=checkpoint, progress=progress, on_epoch=log)
    finally:
        if log is not None:
            log.close()


class _EpochLog:
    """``fit``'s ``on_epoch``: each epoch's numbers as TensorBoard scalars under ``finetune/``."""

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported only when logging

        self.writer = SummaryWriter(str(folder))

    def __call__(self, row: dict[str, Any]) -> None:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(f"finetune/{key}", value, int(row.get("epoch", 0)))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
