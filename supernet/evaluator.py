"""Evaluators that score architectures with shared weights instead of training each one.

``WeightSharingEvaluator`` is their common part: the space's data and loaders, BatchNorm
recalibration and test accuracy. The ``supernet`` evaluator (``SupernetEvaluator``:
SPOS, ENAS shared weights) scores a candidate in three named steps: ``inherit``
(``space.build(arch, from_supernet=net)``: the standalone network with the supernet's
weights for its path), ``recalibrate`` (BN running statistics re-estimated on
``bn_batches`` training batches: the supernet's statistics describe the mixture of all
paths it trained, not this one) and ``score`` (validation accuracy). The returned model is
the standalone network, so exports carry the inherited weights.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from nasengine.arch import Arch
from nasengine.data import load_space_data
from nasengine.evaluators.base import Evaluation, Evaluator
from nasengine.space import SearchSpace
from nasengine.train.loop import evaluate, recalibrate_bn
from nasengine.utils.validation import non_negative_int, positive_int
from supernet.spos import load_supernet


class WeightSharingEvaluator(Evaluator):
    """The data, BatchNorm recalibration and test accuracy of a shared-weight evaluator.

    Args:
        space: The search space.
        dataset, data_root: Data, adapted to the space's input.
        bn_batches: Training batches that re-estimate BN statistics of a scored network;
            0 keeps the shared network's own statistics.
        batch_size: Batch size of the loaders.
        seed: Fixes the loaders' order (which training batches recalibrate).
        device: Where candidates run.
    """

    def __init__(self, space: SearchSpace, *, dataset: str, data_root: str | None, bn_batches: int,
                 batch_size: int, seed: int, device: str) -> None:
        non_negative_int("bn_batches", bn_batches)
        positive_int("batch_size", batch_size)
        self.space, self.bn_batches, self.device = space, bn_batches, device
        self.data = load_space_data(space, dataset, data_root)
        self.train_loader, self.val_loader, self.test_loader = self.data.loaders(batch_size, seed=seed)

    def recalibrate(self, model: nn.Module) -> nn.Module:
        """Re-estimate ``model``'s BN statistics on ``bn_batches`` training batches."""
        if self.bn_batches:
            recalibrate_bn(model, self.train_loader, batches=self.bn_batches, device=self.device)
        return model

    def test_accuracy(self, arch: Arch, model: nn.Module | None) -> float | None:
        if model is None:
            return None
        return evaluate(model.to(self.device), self.test_loader, device=self.device)["acc"]


class SupernetEvaluator(WeightSharingEvaluator):
    """Scores architectures with a trained supernet's weights.

    Args:
        space: The search space the supernet belongs to.
        checkpoint: ``supernet.pt`` written by the ``spos`` pretraining step (or an ENAS
            shared-weight state).
        dataset, data_root: Data, adapted to the space's input.
        bn_batches: Training batches that re-estimate BN statistics; 0 keeps the
            supernet's own statistics.
        batch_size: Batch size of recalibration and scoring.
        seed: Fixes which training batches recalibrate (same arch, same score).
        device: Where candidates run.
    """

    #: Named when no checkpoint is given: this evaluator, what it loads, what trains it.
    name, network, strategy = "supernet", "supernet", "spos"

    def __init__(self, space: SearchSpace, *, checkpoint: str | Path | None = None, dataset: str = "digits",
                 data_root: str | None = None, bn_batches: int = 20, batch_size: int = 64, seed: int = 0,
                 device: str = "cpu") -> None:
        if checkpoint is None:
            raise ValueError(f"the {self.name} evaluator needs a trained {self.network}: use --strategy "
                             f"{self.strategy} (which trains one first) or --evaluator-set checkpoint=PATH")
        super().__init__(space, dataset=dataset, data_root=data_root, bn_batches=bn_batches,
                         batch_size=batch_size, seed=seed, device=device)
        self.net = self.load(checkpoint)

    def load(self, checkpoint: str | Path) -> nn.Module:
        """The trained shared network at ``checkpoint``, checked against the space."""
        return load_supernet(checkpoint, self.space, device=self.device)

    def inherit(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` carrying the supernet's weights and statistics."""
        return self.space.build(arch, from_supernet=self.net).to(self.device).eval()

    def evaluate(self, arch: Arch) -> Evaluation:
        model = self.recalibrate(self.inherit(arch))
        metrics = evaluate(model, self.val_loader, device=self.device)
        return Evaluation({"acc": metrics["acc"], "val_loss": metrics["loss"]}, model)
