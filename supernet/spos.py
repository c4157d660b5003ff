"""Single Path One-Shot (Guo et al. 2019): train the space's supernet one sampled path per
step, then search it with evolution, scoring each candidate with inherited weights.

``pretrain`` is the strategy's first step (called by the search runner, resumable and
idempotent): it trains ``space.network()`` with ``train_one_shot`` under the search's
hard limits and saves ``supernet.pt`` in the run folder; ``SupernetEvaluator`` (in
``supernet.evaluator``) then scores architectures with it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.constraints import Constraints
from nasengine.data.datasets import DataSplits, load_dataset
from nasengine.latency.table import LatencyPredictor
from nasengine.nn import selectables
from nasengine.space import SearchSpace
from nasengine.utils.files import save_atomic
from supernet.sampling import PathSampler, SamplingConfig
from supernet.trainer import OneShotConfig, load_history, train_one_shot

#: File names inside a run folder.
CHECKPOINT, TRAIN_STATE = "supernet.pt", "supernet_train.pt"
#: Training settings that do not change the trained weights.
_PLACEMENT = ("device", "log_every", "num_workers")
#: ``--pretrain-set`` keys of the sampling rule (``sampling`` is its mode).
_SAMPLING_KEYS = {"sampling": "mode", "bins": "bins", "bin_by": "bin_by", "max_tries": "max_tries",
                  "walk_steps": "walk_steps"}


def space_data(space: SearchSpace, dataset: str, data_root: str | None) -> DataSplits:
    """``dataset`` resized to the space's input; its classes must match the space's."""
    cfg = space.config
    data = load_dataset(dataset, data_root=data_root, image_size=cfg.input_size, channels=cfg.in_channels)
    if data.num_classes != cfg.num_classes:
        raise ValueError(f"{dataset} has {data.num_classes} classes but the space has num_classes="
                         f"{cfg.num_classes}; add --set num_classes={data.num_classes}")
    return data


def search_limits(cfg: Any, space: SearchSpace) -> Constraints:
    """The hard limits of a search config (MACs, params and, with a table, latency)."""
    table = getattr(cfg, "latency_table", None)
    latency = None if table is None else LatencyPredictor(space, table)
    return Constraints(cfg.max_macs, cfg.max_params, getattr(cfg, "max_latency_ms", None), latency)


def split_options(options: Mapping[str, Any], **defaults: Any) -> tuple[SamplingConfig, OneShotConfig]:
    """``--pretrain-set`` options -> (sampling rule, training config); ``defaults`` (epochs,
    seed) apply unless the options set them too."""
    train_keys = {f.name for f in dataclasses.fields(OneShotConfig) if f.init}
    unknown = sorted(set(options) - train_keys - set(_SAMPLING_KEYS))
    if unknown:
        raise ValueError(f"unknown SPOS pretraining option(s) {unknown}; allowed: "
                         f"{sorted(train_keys | set(_SAMPLING_KEYS))}")
    sampling = SamplingConfig(**{_SAMPLING_KEYS[k]: v for k, v in options.items() if k in _SAMPLING_KEYS})
    train = {**{k: v for k, v in defaults.items() if k in train_keys},
             **{k: v for k, v in options.items() if k in train_keys}}
    return sampling, OneShotConfig(**train)


class PathSelector:
    """``apply_arch`` for a supernet: ``select_path`` over a list of choice modules found
    once (walking every module of a large supernet each step costs more than the lookup)."""

    def __init__(self, net: nn.Module) -> None:
        self.modules = list(selectables(net))

    def __call__(self, net: nn.Module, arch: Arch) -> None:
        choices = arch.choices
        for m in self.modules:
            m.select(choices[m.decision])


def identity(space: SearchSpace, limits: Constraints, sampling: SamplingConfig, train: OneShotConfig) -> dict[str, Any]:
    """What a saved supernet must agree on to be reused."""
    return {"space": space.name, "space_config": _plain(space.config.to_dict()), "limits": limits.to_dict(),
            "sampling": sampling.to_dict(),
            "train": {k: v for k, v in train.to_dict().items() if k not in _PLACEMENT}}


def train_supernet(space: SearchSpace, data: DataSplits, limits: Constraints, sampling: SamplingConfig,
                   train: OneShotConfig, out: Path, *, progress: bool = True) -> Path:
    """Train ``space``'s supernet on paths drawn by ``sampling`` within ``limits``; save it
    to ``out/supernet.pt``. Resumes from ``out/supernet_train.pt``; returns at once when
    ``out`` already holds one trained with the same settings."""
    out = Path(out)
    path = out / CHECKPOINT
    ident = identity(space, limits, sampling, train)
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved["identity"] != ident:
            raise ValueError(f"{path} holds a supernet trained with {saved['identity']}, not {ident}; "
                             "use the same settings or another output folder")
        return path
    sampler = PathSampler(space, limits, sampling)
    torch.manual_seed(train.seed)  # supernet initialisation
    net = space.network()
    if progress:
        print(f"pretrain supernet of {space.name}: {train.epochs} epochs, {sampling.mode} paths"
              f"{f' ({sampling.bins} bins)' if sampling.mode == 'binned' else ''} -> {path}", file=sys.stderr)
    net = train_one_shot(net, sampler, PathSelector(net), data, train, out / TRAIN_STATE, progress=progress,
                         tb_dir=out / "tb" / "pretrain")
    history = load_history(out / TRAIN_STATE)
    from supernet.distributed import world

    if world(train.device).main:
        save_atomic({"identity": ident, "model": net.state_dict(), "history": history}, path)
    if progress and history:
        last = history[-1]
        print(f"supernet trained: loss {last['train_loss']:.4f}, sampled-path train acc {last['train_acc']:.4f}",
              file=sys.stderr)
    return path


def pretrain(cfg: Any, space: SearchSpace, out: Path, *, progress: bool) -> dict[str, Any]:
    """The ``spos`` strategy's pretraining step: train (or reuse) the run's supernet.

    Reads ``cfg.pretrain_epochs``, ``cfg.pretrain_options`` (``OneShotConfig`` fields and
    ``sampling``/``bins``/``bin_by``/``max_tries``/``walk_steps``), the hard limits, the data
    and the seed; returns the evaluator options that point at the supernet and its data.
    """
    sampling, train = split_options(getattr(cfg, "pretrain_options", None) or {},
                                    epochs=getattr(cfg, "pretrain_epochs", 10), seed=cfg.seed)
    limits = search_limits(cfg, space)
    data = space_data(space, cfg.dataset, cfg.data_root)
    path = train_supernet(space, data, limits, sampling, train, Path(out), progress=progress)
    return {"checkpoint": str(path), "dataset": cfg.dataset, "data_root": cfg.data_root}


def load_supernet(path: str | Path, space: SearchSpace, *, device: str = "cpu") -> nn.Module:
    """A supernet saved by ``train_supernet`` (or an ENAS shared network), for ``space``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"supernet checkpoint {str(path)!r} does not exist; train one with --strategy spos")
    saved = torch.load(path, map_location=device, weights_only=False)
    ident = saved.get("identity", {})
    if ident.get("space") != space.name or ident.get("space_config") != _plain(space.config.to_dict()):
        raise ValueError(f"{path} was trained for space {ident.get('space')!r} with {ident.get('space_config')}, "
                         f"not {space.name!r} with {_plain(space.config.to_dict())}")
    net = space.network()
    net.load_state_dict(saved["model"])
    return net.to(device).eval()


def _plain(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))
