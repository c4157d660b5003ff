"""``compress``: prune a trained network to a MACs limit with one of the ``METHODS``,
fine-tune it, and write it with its record (``nasengine compress``).

The output folder holds ``weights.pt`` (the pruned state dict), ``model.pt2`` (a
``torch.export`` program of the pruned network, loadable without its code by
``nasengine.load(folder, trusted=True)``), ``model.onnx`` with the ``onnx`` extra, and
``compress.json`` (costs, accuracies, per-layer channels, parity of the exported forms).
An interrupted fine-tune resumes from ``finetune.pt``: pruning is deterministic for a seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasengine.compress.graph import PruningError, prunable_layers
from nasengine.compress.limits import parse_macs_limit
from nasengine.compress.methods import METHODS, MethodInput
from nasengine.compress.source import SourceModel
from nasengine.cost import count_cost, human
from nasengine.data import DataSplits
from nasengine.train.loop import TrainConfig, evaluate, fit

RESULT_FILE = "compress.json"


@dataclass(frozen=True)
class CompressConfig:
    """Settings of one compression.

    Attributes:
        method: A name in ``METHODS``.
        max_macs: ``--max-macs`` (``40M``, ``25%``, ``0.25``).
        finetune_epochs: Epochs of fine-tuning after pruning (0: none).
        lr: Fine-tuning learning rate (cosine schedule).
        batch_size: Fine-tuning batch size.
        calibration_images: Training images whose feature maps are sampled.
        seed: Seeds sampling and fine-tuning.
    """

    method: str = "l1"
    max_macs: str = "50%"
    finetune_epochs: int = 0
    lr: float = 0.01
    batch_size: int = 64
    calibration_images: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PruningError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.finetune_epochs < 0:
            raise PruningError(f"--finetune-epochs must be >= 0, got {self.finetune_epochs}")
        if self.calibration_images < 1:
            raise PruningError(f"calibration images must be >= 1, got {self.calibration_images}")


def calibration_batches(data: DataSplits, images: int, batch: int = 64) -> list[torch.Tensor]:
    """The first ``images`` training images (a fixed choice), in batches."""
    count = min(images, len(data.train))  # type: ignore[arg-type]
    xs = torch.stack([data.train[i][0] for i in range(count)])
    return list(xs.split(batch))


def compress(source: SourceModel, data: DataSplits, cfg: CompressConfig, out: str | Path | None = None, *,
             progress: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Prune ``source`` to ``cfg.max_macs`` and fine-tune it on ``data``.

    Returns:
        The compressed network and its record (also written to ``out/compress.json``
        with the model files when ``out`` is given).

    Raises:
        PruningError: The limit cannot be met, or the network has nothing to prune.
    """
    model = source.model.eval()
    shape = (1, *source.input_shape)
    source_cost = count_cost(model, shape)
    limit = parse_macs_limit(cfg.max_macs, source_cost.macs)
    calibration = calibration_batches(data, cfg.calibration_images)
    example = calibration[0][:2]
    layers = prunable_layers(model, example)
    if not layers:
        raise PruningError("the model has no layer whose output channels can be removed")
    train, val, test = data.loaders(cfg.batch_size, seed=cfg.seed)
    source_acc = evaluate(model, val)["acc"]
    pruned = METHODS[cfg.method].run(MethodInput(model, example, limit, layers, calibration, cfg.seed))
    cost = count_cost(pruned.model, shape)
    if cost.macs > limit:  # the methods choose ratios on these very counts; a breach is a bug
        raise PruningError(f"the pruned model has {human(cost.macs)} MACs, above the limit {human(limit)}")
    acc_pruned = evaluate(pruned.model, val)["acc"]
    history: list[dict[str, Any]] = []
    if cfg.finetune_epochs:
        checkpoint = Path(out) / "finetune.pt" if out is not None else None
        train_cfg = TrainConfig(epochs=cfg.finetune_epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed)
        history = fit(pruned.model, train, val, train_cfg, checkpoint=checkpoint, progress=progress)
    pruned.model.eval()
    after = prunable_layers(pruned.model, example)
    channels = {info.name: {"source": info.out_channels, "kept": _kept(pruned.model, info.name)} for info in layers}
    record: dict[str, Any] = {
        "method": cfg.method, "config": asdict(cfg), "source": source.description,
        "input_shape": list(source.input_shape), "limit_macs": limit,
        "source_cost": source_cost.to_dict(), "cost": cost.to_dict(),
        "source_val_acc": source_acc, "pruned_val_acc": acc_pruned,
        "finetuned_val_acc": evaluate(pruned.model, val)["acc"] if cfg.finetune_epochs else None,
        "test_acc": evaluate(pruned.model, test)["acc"], "epochs": len(history),
        "ratios": pruned.ratios, "channels": channels, "prunable_after": len(after),
    }
    if out is not None:
        record["parity"] = write_model(pruned.model, example, Path(out))
        (Path(out) / RESULT_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return pruned.model, record


def _kept(model: nn.Module, name: str) -> int:
    module = dict(model.named_modules())[name]
    return int(module.out_channels if isinstance(module, nn.Conv2d) else module.out_features)  # type: ignore[arg-type]


def write_model(model: nn.Module, example: torch.Tensor, folder: Path) -> dict[str, float]:
    """``weights.pt`` and the deployable forms of ``EXPORT_FORMATS`` that need no space (pt2,
    ONNX when its extra is installed), each reloaded and compared with ``model``.

    Returns:
        ``{form: max abs difference on example}``.
    """
    from nasengine.export.formats import EXPORT_FORMATS

    folder.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    torch.save(model.state_dict(), folder / "weights.pt")
    x = example.cpu()
    with torch.no_grad():
        reference = model(x)
    diffs: dict[str, float] = {}
    for name in ("pt2", "onnx"):
        form = EXPORT_FORMATS.get(name)
        if form.missing() is None:  # the program formats read only the model and its inputs
            diffs[name], _ = form.write(None, None, model, x, reference, folder)  # type: ignore[arg-type]
    return diffs
