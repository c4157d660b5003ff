"""The pretraining scaffold shared by the one-shot methods (SPOS, MetaPruning).

Both train one network over sampled architectures with ``train_one_shot`` before their
search, and follow the same flow, written once here: split ``--pretrain-set`` options into
the method's own config and the training config; fix the run's identity (what a saved
network must agree on to be reused); train, resuming an interrupted run, or reuse the
network already in the run folder; load it back for the evaluator, checked against the
space. A method supplies only what differs: its network, how a step picks and applies an
architecture, its option keys and its file names (a ``OneShotMethod``).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, TypeVar

import numpy as np
import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.data import DataSplits, load_space_data
from nasengine.space import SearchSpace
from nasengine.utils.files import jsonable, save_atomic
from nasengine.utils.safe_load import load_checkpoint
from supernet.distributed import world
from supernet.trainer import OneShotConfig, load_history, train_one_shot

C = TypeVar("C")
#: ``sample_arch(rng)``: the architecture a training step trains.
SampleArch = Callable[[np.random.Generator], Arch]
#: ``apply_arch(net, arch)``: make ``net`` compute ``arch``.
ApplyArch = Callable[[nn.Module, Arch], None]


@dataclass(frozen=True)
class OneShotMethod(Generic[C]):
    """What one one-shot pretraining method is, for the shared flow.

    Args:
        name: The method in messages ("SPOS").
        network: What it trains, in messages ("supernet").
        strategy: The search strategy that trains it (named when a checkpoint is missing).
        checkpoint, train_state: File names in the run folder: the trained network and the
            resumable training state.
        config: Builds the method's own config from its options.
        option_keys: ``--pretrain-set`` key -> ``config`` argument.
        paths: What each step trains, in the final message ("random-width": "random-width
            train acc").
    """

    name: str
    network: str
    strategy: str
    checkpoint: str
    train_state: str
    config: Callable[..., C]
    option_keys: Mapping[str, str]
    paths: str

    def split_options(self, options: Mapping[str, Any], **defaults: Any) -> tuple[C, OneShotConfig]:
        """``--pretrain-set`` options -> (the method's config, the training config).

        ``defaults`` (epochs, seed...) apply to the training config unless ``options`` sets
        them too.
        """
        train_keys = {f.name for f in dataclasses.fields(OneShotConfig) if f.init}
        unknown = sorted(set(options) - train_keys - set(self.option_keys))
        if unknown:
            raise ValueError(f"unknown {self.name} pretraining option(s) {unknown}; allowed: "
                             f"{sorted(train_keys | set(self.option_keys))}")
        own = self.config(**{self.option_keys[k]: v for k, v in options.items() if k in self.option_keys})
        train = {**{k: v for k, v in defaults.items() if k in train_keys},
                 **{k: v for k, v in options.items() if k in train_keys}}
        return own, OneShotConfig(**train)

    def train(self, space: SearchSpace, identity: Mapping[str, Any], build: Callable[[], nn.Module],
              sampler: Callable[[], SampleArch], apply_for: Callable[[nn.Module], ApplyArch], data: DataSplits,
              train: OneShotConfig, out: Path, *, progress: bool = True, describe: str = "") -> Path:
        """Train ``build()`` one sampled architecture per step and save it to
        ``out/checkpoint``; return its path.

        Resumes from ``out/train_state`` after an interruption; returns at once when ``out``
        already holds a network with the same ``identity`` (another identity is an error).

        Args:
            space: The space (named in messages).
            identity: From ``run_identity``; saved with the network.
            build: Creates the untrained network (called after seeding torch with
                ``train.seed``).
            sampler: ``sampler()`` -> ``sample_arch``, the architecture of each step (made
                only when training is needed, before the network).
            apply_for: ``apply_for(net)`` -> the ``apply_arch`` of ``net``.
            data, train: The data and training settings.
            out: The run folder.
            progress: Print what is trained and its final loss.
            describe: How architectures are picked, for the first message ("random widths").
        """
        out = Path(out)
        path = out / self.checkpoint
        if path.exists():
            saved = load_checkpoint(path, what=self.network, required=("identity", "model"))
            if jsonable(saved["identity"]) != jsonable(identity):  # older files hold tuples
                raise ValueError(f"{path} holds a {self.network} trained with {saved['identity']}, not {identity}; "
                                 "use the same settings or another output folder")
            return path
        sample_arch = sampler()
        torch.manual_seed(train.seed)  # the network's initialisation
        net = build()
        if progress:
            print(f"pretrain {self.network} of {space.name}: {train.epochs} epochs, {describe} -> {path}",
                  file=sys.stderr)
        net = train_one_shot(net, sample_arch, apply_for(net), data, train, out / self.train_state,
                             progress=progress, tb_dir=out / "tb" / "pretrain")
        history = load_history(out / self.train_state)
        if world(train.device).main:  # under torchrun every rank trains, rank 0 saves
            save_atomic({"identity": dict(identity), "model": net.state_dict(), "history": history}, path)
        if progress and history:
            print(f"{self.network} trained: loss {history[-1]['train_loss']:.4f}, {self.paths} train acc "
                  f"{history[-1]['train_acc']:.4f}", file=sys.stderr)
        return path

    def pretrain(self, cfg: Any, space: SearchSpace, out: Path,
                 train: Callable[[DataSplits, C, OneShotConfig, Path], Path]) -> dict[str, Any]:
        """A strategy's pretraining step: split ``cfg.pretrain_options`` (defaults: the
        search's ``pretrain_epochs`` and ``seed``), load the search's data, then
        ``train(data, own_config, train_config, out)``.

        Returns:
            The evaluator options that point at the trained network and its data.
        """
        own, train_config = self.split_options(getattr(cfg, "pretrain_options", None) or {},
                                               epochs=getattr(cfg, "pretrain_epochs", 10), seed=cfg.seed)
        data = load_space_data(space, cfg.dataset, cfg.data_root)
        path = train(data, own, train_config, Path(out))
        return {"checkpoint": str(path), "dataset": cfg.dataset, "data_root": cfg.data_root}

    def load(self, path: str | Path, space: SearchSpace, *, device: str = "cpu") -> dict[str, Any]:
        """The saved record at ``path`` (``identity``, ``model``...), checked to be for ``space``."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{self.network} checkpoint {str(path)!r} does not exist; train one with "
                             f"--strategy {self.strategy}")
        saved = load_checkpoint(path, what=self.network, map_location=device, required=("identity", "model"))
        ident = saved.get("identity", {})
        config = jsonable(space.config.to_dict())
        if ident.get("space") != space.name or jsonable(ident.get("space_config")) != config:
            raise ValueError(f"{path} was trained for space {ident.get('space')!r} with {ident.get('space_config')}, "
                             f"not {space.name!r} with {config}")
        return saved


def run_identity(space: SearchSpace, train: OneShotConfig, **method: Any) -> dict[str, Any]:
    """What a saved one-shot network must agree on to be reused: the space, the method's
    own settings (``method``) and the training settings that change the weights."""
    return {"space": space.name, "space_config": jsonable(space.config.to_dict()), **method,
            "train": train.weight_settings()}
