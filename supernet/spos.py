"""Single Path One-Shot (Guo et al. 2019): train the space's supernet one sampled path per
step, then search it with evolution, scoring each candidate with inherited weights.

``pretrain`` is the strategy's first step (called by the search runner, resumable and
idempotent): it trains ``space.network()`` with ``train_one_shot`` under the search's
hard limits and saves ``supernet.pt`` in the run folder; ``SupernetEvaluator`` (in
``supernet.evaluator``) then scores architectures with it. The flow shared with
MetaPruning (options, identity, train-or-reuse, loading) is ``supernet.pretraining``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from torch import nn

from nasengine.arch import Arch
from nasengine.constraints import Constraints
from nasengine.data import DataSplits
from nasengine.nn import followed_decisions, selectables
from nasengine.search.config import Strategy, search_limits
from nasengine.space import SearchSpace
from supernet.pretraining import OneShotMethod, run_identity
from supernet.sampling import PathSampler, SamplingConfig
from supernet.trainer import OneShotConfig

#: File names inside a run folder.
CHECKPOINT, TRAIN_STATE = "supernet.pt", "supernet_train.pt"

#: The SPOS pretraining method: ``--pretrain-set`` keys of the sampling rule (``sampling``
#: is its mode) besides the ``OneShotConfig`` fields.
METHOD: OneShotMethod[SamplingConfig] = OneShotMethod(
    name="SPOS", network="supernet", strategy="spos", checkpoint=CHECKPOINT, train_state=TRAIN_STATE,
    config=SamplingConfig, paths="sampled-path",
    option_keys={"sampling": "mode", "bins": "bins", "bin_by": "bin_by", "max_tries": "max_tries",
                 "walk_steps": "walk_steps"})


def split_options(options: Mapping[str, Any], **defaults: Any) -> tuple[SamplingConfig, OneShotConfig]:
    """``--pretrain-set`` options -> (sampling rule, training config); ``defaults`` (epochs,
    seed) apply unless the options set them too."""
    return METHOD.split_options(options, **defaults)


class PathSelector:
    """``apply_arch`` for a supernet: ``select_path`` over a list of choice modules found
    once (walking every module of a large supernet each step costs more than the lookup)."""

    def __init__(self, net: nn.Module) -> None:
        self.setters = [pair for m in selectables(net) for pair in followed_decisions(m)]

    def __call__(self, net: nn.Module, arch: Arch) -> None:
        choices = arch.choices
        for decision, select in self.setters:
            select(choices[decision])


def identity(space: SearchSpace, limits: Constraints, sampling: SamplingConfig, train: OneShotConfig) -> dict[str, Any]:
    """What a saved supernet must agree on to be reused."""
    return run_identity(space, train, limits=limits.to_dict(), sampling=sampling.to_dict())


def train_supernet(space: SearchSpace, data: DataSplits, limits: Constraints, sampling: SamplingConfig,
                   train: OneShotConfig, out: Path, *, progress: bool = True) -> Path:
    """Train ``space``'s supernet on paths drawn by ``sampling`` within ``limits``; save it
    to ``out/supernet.pt``. Resumes from ``out/supernet_train.pt``; returns at once when
    ``out`` already holds one trained with the same settings."""
    bins = f" ({sampling.bins} bins)" if sampling.mode == "binned" else ""
    return METHOD.train(space, identity(space, limits, sampling, train), space.network,
                        lambda: PathSampler(space, limits, sampling), PathSelector,
                        data, train, out, progress=progress, describe=f"{sampling.mode} paths{bins}")


def pretrain(cfg: Any, space: SearchSpace, out: Path, *, progress: bool) -> dict[str, Any]:
    """The ``spos`` strategy's pretraining step: train (or reuse) the run's supernet.

    Reads ``cfg.pretrain_epochs``, ``cfg.pretrain_options`` (``OneShotConfig`` fields and
    ``sampling``/``bins``/``bin_by``/``max_tries``/``walk_steps``), the hard limits, the data
    and the seed; returns the evaluator options that point at the supernet and its data.
    """

    def train(data: DataSplits, sampling: SamplingConfig, config: OneShotConfig, run: Path) -> Path:
        return train_supernet(space, data, search_limits(cfg, space), sampling, config, run, progress=progress)

    return METHOD.pretrain(cfg, space, out, train)


def load_supernet(path: str | Path, space: SearchSpace, *, device: str = "cpu") -> nn.Module:
    """A supernet saved by ``train_supernet`` (or an ENAS shared network), for ``space``."""
    saved = METHOD.load(path, space, device=device)
    net = space.network()
    net.load_state_dict(saved["model"])
    return net.to(device).eval()


#: ``--strategy spos``: evolution over the supernet's inherited-weight scores.
STRATEGY = Strategy("evolution", "supernet", pretrain)
