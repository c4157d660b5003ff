"""The MetaPruning strategy: train a PruningNet, then score architectures with the
weights it generates (Liu et al., ICCV 2019).

``pretrain`` trains the PruningNet with one random encoding per step (resumable) and
saves it; ``PruningNetEvaluator`` scores an architecture by building its standalone
network with the generated weights, recalibrating BatchNorm on training batches and
measuring validation accuracy. An evolutionary search under hard cost limits drives it.
The flow shared with SPOS (options, identity, train-or-reuse, loading) is
``supernet.pretraining``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from nasengine.arch import Arch
from nasengine.data import DataSplits
from nasengine.search.config import Strategy
from nasengine.space import SearchSpace
from supernet.evaluator import SupernetEvaluator
from supernet.pretraining import OneShotMethod, run_identity
from supernet.pruningnet import PruningNet, PruningNetConfig
from supernet.trainer import OneShotConfig

#: File names inside a run folder.
CHECKPOINT, TRAIN_STATE = "pruningnet.pt", "pruningnet_train.pt"

#: The MetaPruning pretraining method: the generator's options besides ``OneShotConfig``'s.
METHOD: OneShotMethod[PruningNetConfig] = OneShotMethod(
    name="MetaPruning", network="PruningNet", strategy="metapruning", checkpoint=CHECKPOINT,
    train_state=TRAIN_STATE, config=PruningNetConfig, paths="random-width",
    option_keys={f.name: f.name for f in dataclasses.fields(PruningNetConfig)})


def split_options(options: Mapping[str, Any], **defaults: Any) -> tuple[PruningNetConfig, OneShotConfig]:
    """Pretraining options (``--pretrain-set``) -> generator and training configs.

    ``defaults`` (epochs, seed...) apply unless ``options`` sets them too.
    """
    return METHOD.split_options(options, **defaults)


def train_pruningnet(space: SearchSpace, data: DataSplits, net_config: PruningNetConfig, train_config: OneShotConfig,
                     out: Path, *, progress: bool = True) -> Path:
    """Train a PruningNet of ``space`` on ``data`` and save it to ``out/pruningnet.pt``.

    Resumes from ``out/pruningnet_train.pt`` after an interruption; returns at once when
    ``out`` already holds one trained with the same settings.
    """
    identity = run_identity(space, train_config, pruningnet=net_config.to_dict())
    # MetaPruning: every layer's width drawn at random, independently, each step.
    return METHOD.train(space, identity, lambda: PruningNet(space, net_config), lambda: space.sample,
                        lambda net: _set_arch, data, train_config, out, progress=progress, describe="random widths")


def _set_arch(model: nn.Module, arch: Arch) -> None:
    model.set_arch(arch)


def pretrain(cfg: Any, space: SearchSpace, out: Path, *, progress: bool) -> dict[str, Any]:
    """The strategy's pretraining step: train (or reuse) the PruningNet of a search.

    Reads ``cfg.pretrain_epochs``, ``cfg.pretrain_options`` (generator ``hidden`` and
    ``OneShotConfig`` fields), ``cfg.dataset``, ``cfg.data_root`` and ``cfg.seed``; returns
    the evaluator options that point at the trained PruningNet and its data.
    """

    def train(data: DataSplits, net_config: PruningNetConfig, config: OneShotConfig, run: Path) -> Path:
        return train_pruningnet(space, data, net_config, config, run, progress=progress)

    return METHOD.pretrain(cfg, space, out, train)


def load_pruningnet(path: str | Path, space: SearchSpace, *, device: str = "cpu") -> PruningNet:
    """A PruningNet saved by ``train_pruningnet``, for ``space`` (checked)."""
    saved = METHOD.load(path, space, device=device)
    net = PruningNet(space, PruningNetConfig(**saved["identity"]["pruningnet"]))
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

    name, network, strategy = "pruningnet", "PruningNet", "metapruning"

    def load(self, checkpoint: str | Path) -> nn.Module:
        """The trained PruningNet at ``checkpoint``, checked against the space."""
        return load_pruningnet(checkpoint, self.space, device=self.device)

    def inherit(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` with the generated weights, in eval mode."""
        return self.net.export(arch).eval()


#: ``--strategy metapruning``: evolution over PruningNet-generated-weight scores.
STRATEGY = Strategy("evolution", "pruningnet", pretrain)
