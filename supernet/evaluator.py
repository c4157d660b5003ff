"""The ``supernet`` evaluator: a candidate's score with weights inherited from a trained
supernet (SPOS, ENAS), no training of its own.

Three named steps per architecture: ``inherit`` (``space.build(arch, from_supernet=net)``:
the standalone network with the supernet's weights for its path), ``recalibrate`` (BN
running statistics re-estimated on ``bn_batches`` training batches: the supernet's
statistics describe the mixture of all paths it trained, not this one) and ``score``
(validation accuracy). The returned model is the standalone network, so exports carry
the inherited weights.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from nasengine.arch import Arch
from nasengine.evaluators.base import Evaluation, Evaluator
from nasengine.space import SearchSpace
from nasengine.train.loop import evaluate, recalibrate_bn
from nasengine.utils.validation import positive_int
from supernet.spos import load_supernet, space_data


class SupernetEvaluator(Evaluator):
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

    def __init__(self, space: SearchSpace, *, checkpoint: str | Path | None = None, dataset: str = "digits",
                 data_root: str | None = None, bn_batches: int = 20, batch_size: int = 64, seed: int = 0,
                 device: str = "cpu") -> None:
        if checkpoint is None:
            raise ValueError("the supernet evaluator needs a trained supernet: use --strategy spos "
                             "(which trains one first) or --evaluator-set checkpoint=PATH")
        if not isinstance(bn_batches, int) or isinstance(bn_batches, bool) or bn_batches < 0:
            raise ValueError(f"bn_batches must be an integer >= 0, got {bn_batches!r}")
        positive_int("batch_size", batch_size)
        self.space, self.bn_batches, self.device = space, bn_batches, device
        self.net = load_supernet(checkpoint, space, device=device)
        self.data = space_data(space, dataset, data_root)
        self.train_loader, self.val_loader, self.test_loader = self.data.loaders(batch_size, seed=seed)

    def inherit(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` carrying the supernet's weights and statistics."""
        return self.space.build(arch, from_supernet=self.net).to(self.device).eval()

    def recalibrate(self, model: nn.Module) -> nn.Module:
        """Re-estimate ``model``'s BN statistics on ``bn_batches`` training batches."""
        if self.bn_batches:
            recalibrate_bn(model, self.train_loader, batches=self.bn_batches, device=self.device)
        return model

    def evaluate(self, arch: Arch) -> Evaluation:
        model = self.recalibrate(self.inherit(arch))
        metrics = evaluate(model, self.val_loader, device=self.device)
        return Evaluation({"acc": metrics["acc"], "val_loss": metrics["loss"]}, model)

    def test_accuracy(self, arch: Arch, model: nn.Module | None) -> float | None:
        if model is None:
            return None
        return evaluate(model.to(self.device), self.test_loader, device=self.device)["acc"]

