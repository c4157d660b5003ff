"""``compress``: prune a trained network to a MACs limit, a latency limit or both with one
of the ``METHODS`` and fine-tune it (``nasengine compress``);
``nasengine.export.export_compressed`` writes the result. Pruning is deterministic for a
seed, so an interrupted fine-tune resumes from its checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from nasengine.compress.graph import prunable_layers
from nasengine.compress.latency import LatencyLimit, PlanLatency, latency_record, network_identity, parse_latency_limit
from nasengine.compress.layers import PruningError
from nasengine.compress.limits import parse_macs_limit
from nasengine.compress.methods import METHODS, MethodInput
from nasengine.compress.source import SourceModel
from nasengine.cost import count_cost, human
from nasengine.data import DataSplits
from nasengine.records.compress import CompressRecord
from nasengine.records.export import Preprocessing
from nasengine.train.finetune import finetune
from nasengine.train.loop import TrainConfig, evaluate


@dataclass(frozen=True)
class CompressConfig:
    """Settings of one compression.

    Attributes:
        method: A name in ``METHODS``.
        max_macs: ``--max-macs`` (``40M``, ``25%``, ``0.25``; ``100%``: no MACs limit).
        max_latency: ``--max-latency-ms`` (``3``, ``3ms``, ``50%`` of the source's predicted
            latency); ``None``: no latency limit.
        latency_table: The network's latency table (``nasengine latency build --model``),
            required with ``max_latency``.
        finetune_epochs: Epochs of fine-tuning after pruning (0: none).
        lr: Fine-tuning learning rate (cosine schedule).
        batch_size: Fine-tuning batch size.
        calibration_images: Training images whose feature maps are sampled.
        seed: Seeds sampling and fine-tuning.
        options: Settings of the method (``Method.options`` names them).
    """

    method: str = "l1"
    max_macs: str = "50%"
    finetune_epochs: int = 0
    lr: float = 0.01
    batch_size: int = 64
    calibration_images: int = 256
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    max_latency: str | None = None
    latency_table: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PruningError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        unknown = sorted(set(self.options) - set(METHODS[self.method].options))
        if unknown:
            allowed = ", ".join(METHODS[self.method].options) or "none"
            raise PruningError(f"method {self.method!r} has no setting(s) {unknown}; its settings: {allowed}")
        check = METHODS[self.method].check
        if check is not None:
            check(self.options)
        if self.finetune_epochs < 0:
            raise PruningError(f"--finetune-epochs must be >= 0, got {self.finetune_epochs}")
        if (self.max_latency is None) != (self.latency_table is None):
            raise PruningError("a latency limit needs a latency table: give both --max-latency-ms and --latency-table")
        if self.calibration_images < 1:
            raise PruningError(f"calibration images must be >= 1, got {self.calibration_images}")


def calibration_batches(data: DataSplits, images: int, batch: int = 64) -> list[torch.Tensor]:
    """The first ``images`` training images (a fixed choice), in batches."""
    count = min(images, len(data.train))  # type: ignore[arg-type]
    xs = torch.stack([data.train[i][0] for i in range(count)])
    return list(xs.split(batch))


def compress(source: SourceModel, data: DataSplits, cfg: CompressConfig, *, checkpoint: str | Path | None = None,
             workdir: str | Path | None = None, tensorboard: str | Path | None = None, progress: bool = False,
             command: str | None = None, threads: int | None = None) -> tuple[nn.Module, CompressRecord]:
    """Prune ``source`` to ``cfg.max_macs`` (and ``cfg.max_latency``) and fine-tune it on ``data``.

    Args:
        source: The network.
        data: Calibration images come from its training split, accuracies from its
            validation and test splits.
        cfg: The settings.
        checkpoint: Fine-tuning checkpoint file (an interrupted fine-tune resumes from it;
            pruning is deterministic for a seed).
        workdir: The method's own folder (``MethodInput.workdir``).
        tensorboard: Folder for TensorBoard logs of the fine-tuning (loss, accuracy per epoch).
        progress: Show a progress bar while fine-tuning.
        command: The command line, for the record.
        threads: Torch threads asked for (a latency table timed with others is refused).

    Returns:
        The compressed network and its record (``nasengine.export.export_compressed``
        writes both).

    Raises:
        PruningError: The limit cannot be met, the network has nothing to prune, or the
            latency table was made for another network, machine or thread count.
    """
    model = source.model.eval()
    shape = (1, *source.input_shape)
    source_cost = count_cost(model, shape)
    limit = parse_macs_limit(cfg.max_macs, source_cost.macs)
    latency = None if cfg.latency_table is None else _latency_limit(source, cfg, threads)
    calibration = calibration_batches(data, cfg.calibration_images)
    example = calibration[0][:2]
    layers = prunable_layers(model, example)
    if not layers:
        raise PruningError("the model has no layer whose output channels can be removed")
    train, val, test = data.loaders(cfg.batch_size, seed=cfg.seed)
    source_acc = evaluate(model, val)["acc"]
    task = MethodInput(model, example, limit, layers, calibration, cfg.seed,
                       score=lambda net: evaluate(net, val)["acc"],
                       workdir=Path(workdir) if workdir is not None else None, options=dict(cfg.options),
                       progress=progress, latency=latency)
    pruned = METHODS[cfg.method].run(task)
    cost = count_cost(pruned.model, shape)
    if cost.macs > limit:  # the methods choose ratios on these very counts; a breach is a bug
        raise PruningError(f"the pruned model has {human(cost.macs)} MACs, above the limit {human(limit)}")
    timed = None
    if latency is not None:
        timed = {"table": cfg.latency_table, **latency_record(latency, model, pruned.model, pruned.ratios, shape[1:])}
    acc_pruned = evaluate(pruned.model, val)["acc"]
    history: list[dict[str, Any]] = []
    if cfg.finetune_epochs:
        train_cfg = TrainConfig(epochs=cfg.finetune_epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed)
        history = finetune(pruned.model, train, val, train_cfg, checkpoint=checkpoint, tensorboard=tensorboard,
                           progress=progress)
    pruned.model.eval()
    record = CompressRecord(
        method=cfg.method, config={**asdict(cfg), "options": dict(cfg.options)}, source=source.description,
        input_shape=tuple(source.input_shape),
        limit_macs=limit, source_cost=source_cost.to_dict(), cost=cost.to_dict(), source_val_acc=source_acc,
        pruned_val_acc=acc_pruned, finetuned_val_acc=evaluate(pruned.model, val)["acc"] if cfg.finetune_epochs else None,
        test_acc=evaluate(pruned.model, test)["acc"], epochs=len(history), ratios=dict(pruned.ratios),
        source_channels={info.name: info.out_channels for info in layers},
        channels={info.name: _kept(pruned.model, info.name) for info in layers},
        preprocessing=Preprocessing.from_dict(data.preprocessing()), command=command, latency=timed)
    return pruned.model, record


def _latency_limit(source: SourceModel, cfg: CompressConfig, threads: int | None) -> LatencyLimit:
    """The latency limit of ``cfg`` on ``source``, from its checked table."""
    from nasengine.bench.suites import machine_info
    from nasengine.latency.network import NetworkLatencyTable

    assert cfg.latency_table is not None and cfg.max_latency is not None
    model, shape = source.model, source.input_shape
    try:
        table = NetworkLatencyTable.load(cfg.latency_table)
        table.check(network_identity(model, shape, source.description), machine=machine_info(), threads=threads,
                    path=cfg.latency_table)
        predict = PlanLatency(model, (2, *shape), table)
    except PruningError:
        raise
    except ValueError as exc:
        raise PruningError(str(exc)) from None
    return LatencyLimit(predict, parse_latency_limit(cfg.max_latency, predict({})))


def _kept(model: nn.Module, name: str) -> int:
    module = dict(model.named_modules())[name]
    return int(module.out_channels if isinstance(module, nn.Conv2d) else module.out_features)  # type: ignore[arg-type]
