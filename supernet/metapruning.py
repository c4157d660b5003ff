"""The MetaPruning strategy: train a PruningNet, then score architectures with the
weights it generates (Liu et al., ICCV 2019).

``pretrain`` trains the PruningNet with one random encoding per step (resumable) and
saves it; ``PruningNetEvaluator`` scores an architecture by building its standalone
network with the generated weights, recalibrating BatchNorm on training batches and
measuring validation accuracy. An evolutionary search under hard cost limits drives it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.data.datasets import DataSplits
from nasengine.space import SearchSpace
from nasengine.utils.files import save_atomic
from nasengine.utils.validation import positive_int
from supernet.distributed import world
from supernet.evaluator import SupernetEvaluator
from supernet.pruningnet import PruningNet, PruningNetConfig
from supernet.spos import space_data
from supernet.trainer import OneShotConfig, load_history, train_one_shot

#: File names inside a run folder.
CHECKPOINT, TRAIN_STATE = "pruningnet.pt", "pruningnet_train.pt"


def split_options(options: Mapping[str, Any], **defaults: Any) -> tuple[PruningNetConfig, OneShotConfig]:
    """Pretraining options (``--pretrain-set``) -> generator and training configs.

    ``defaults`` (epochs, seed...) apply unless ``options`` sets them too.
    """
    net_keys = {f.name for f in dataclasses.fields(PruningNetConfig)}
    train_keys = {f.name for f in dataclasses.fields(OneShotConfig) if f.init}
    unknown = sorted(set(options) - net_keys - train_keys)
    if unknown:
        raise ValueError(f"unknown MetaPruning pretraining option(s) {unknown}; allowed: {sorted(net_keys | train_keys)}")
    net = PruningNetConfig(**{k: v for k, v in options.items() if k in net_keys})
    train = {k: v for k, v in defaults.items() if k in train_keys}
    train.update({k: v for k, v in options.items() if k in train_keys})
    return net, OneShotConfig(**train)


#: Training settings that do not change the trained weights.
_PLACEMENT = ("device", "log_every", "num_workers")


def _identity(space: SearchSpace, net: PruningNetConfig, train: OneShotConfig) -> dict[str, Any]:
    """What a saved PruningNet must agree on to be reused."""
    settings = {k: v for k, v in train.to_dict().items() if k not in _PLACEMENT}
    return {"space": space.name, "space_config": space.config.to_dict(), "pruningnet": net.to_dict(),
            "train": settings}


def train_pruningnet(space: SearchSpace, data: DataSplits, net_config: PruningNetConfig, train_config: OneShotConfig,
                     out: Path, *, progress: bool = True) -> Path:
    """Train a PruningNet of ``space`` on ``data`` and save it to ``out/pruningnet.pt``.

    Resumes from ``out/pruningnet_train.pt`` after an interruption; returns at once when
    ``out`` already holds one trained with the same settings.
    """
    out = Path(out)
    path = out / CHECKPOINT
    identity = _identity(space, net_config, train_config)
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved["identity"] != identity:
            raise ValueError(f"{path} holds a PruningNet trained with {saved['identity']}, not {identity}; "
                             "choose another output folder")
        return path
    torch.manual_seed(train_config.seed)  # generator initialisation
    net = PruningNet(space, net_config)
    if progress:
        print(f"pretrain PruningNet of {space.name}: {train_config.epochs} epochs, random widths -> {path}",
              file=sys.stderr)

    def sample_arch(rng: np.random.Generator) -> Arch:
        # MetaPruning: every layer's width drawn at random, independently, each step.
        return space.sample(rng)

    def apply_arch(model: nn.Module, arch: Arch) -> None:
        model.set_arch(arch)

    net = train_one_shot(net, sample_arch, apply_arch, data, train_config, out / TRAIN_STATE, progress=progress,
                         tb_dir=out / "tb" / "pretrain")
    history = load_history(out / TRAIN_STATE)
    if world(train_config.device).main:  # under torchrun every rank trains, rank 0 saves
        save_atomic({"identity": identity, "model": net.state_dict(), "history": history}, path)
    if progress and history:
        print(f"PruningNet trained: loss {history[-1]['train_loss']:.4f}, random-width train acc "
              f"{history[-1]['train_acc']:.4f}", file=sys.stderr)
    return path


def pretrain(cfg: Any, space: SearchSpace, out: Path, *, progress: bool) -> dict[str, Any]:
    """The strategy's pretraining step: train (or reuse) the PruningNet of a search.

    Reads ``cfg.pretrain_epochs``, ``cfg.pretrain_options`` (generator ``hidden`` and
    ``OneShotConfig`` fields), ``cfg.dataset``, ``cfg.data_root`` and ``cfg.seed``; returns
    the evaluator options that point at the trained PruningNet and its data.
    """
    net_config, train_config = split_options(getattr(cfg, "pretrain_options", None) or {},
                                             epochs=getattr(cfg, "pretrain_epochs", 10), seed=cfg.seed)
    data = space_data(space, cfg.dataset, cfg.data_root)
    path = train_pruningnet(space, data, net_config, train_config, Path(out), progress=progress)
    return {"checkpoint": str(path), "dataset": cfg.dataset, "data_root": cfg.data_root}


def load_pruningnet(path: str | Path, space: SearchSpace, *, device: str = "cpu") -> PruningNet:
    """A PruningNet saved by ``train_pruningnet``, for ``space`` (checked)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"PruningNet checkpoint {str(path)!r} does not exist; train one with --strategy metapruning")
    saved = torch.load(path, map_location=device, weights_only=False)
    identity = saved["identity"]
    if identity["space"] != space.name or identity["space_config"] != space.config.to_dict():
        raise ValueError(f"{path} was trained for space {identity['space']!r} with {identity['space_config']}, "
                         f"not {space.name!r} with {space.config.to_dict()}")
    net = PruningNet(space, PruningNetConfig(**identity["pruningnet"]))
    net.load_state_dict(saved["model"])
    return net.to(device).eval()


class PruningNetEvaluator(SupernetEvaluator):
    """Scores an architecture with PruningNet-generated weights: ``inherit`` builds the
    standalone network carrying the weights generated from its encoding (and the BatchNorm
    of each chosen width), ``recalibrate`` re-estimates its BN statistics on training
    batches, then validation accuracy is the score (as ``SupernetEvaluator``).

    Args:
        space: The width space the PruningNet was trained for.
        checkpoint: ``pruningnet.pt`` written by ``pretrain`` / ``train_pruningnet``.
        dataset, data_root: Data (as for training the PruningNet).
        bn_batches: Training batches of the BatchNorm recalibration step (0: keep the
            PruningNet's per-width statistics).
        batch_size, seed, device: Loaders (the seed fixes the recalibration batches) and
            placement.
    """

    def __init__(self, space: SearchSpace, *, checkpoint: str | Path | None = None, dataset: str = "digits",
                 data_root: str | None = None, bn_batches: int = 20, batch_size: int = 64, seed: int = 0,
                 device: str = "cpu") -> None:
        if checkpoint is None:
            raise ValueError("the pruningnet evaluator needs a trained PruningNet: use --strategy metapruning "
                             "(which trains one first) or --evaluator-set checkpoint=PATH")
        if isinstance(bn_batches, bool) or not isinstance(bn_batches, int) or bn_batches < 0:
            raise ValueError(f"bn_batches must be an integer >= 0, got {bn_batches!r}")
        positive_int("batch_size", batch_size)
        self.space, self.bn_batches, self.device = space, bn_batches, device
        self.net = load_pruningnet(checkpoint, space, device=device)
        self.data = space_data(space, dataset, data_root)
        self.train_loader, self.val_loader, self.test_loader = self.data.loaders(batch_size, seed=seed)

    def inherit(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` with the generated weights, in eval mode."""
        return self.net.export(arch).eval()
