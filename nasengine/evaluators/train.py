"""The ``train`` evaluator: proxy training from scratch, validation accuracy."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.data import load_space_data
from nasengine.evaluators.base import Evaluation, Evaluator, Report
from nasengine.space import SearchSpace
from nasengine.train.loop import TrainConfig, evaluate, fit


class TrainEvaluator(Evaluator):
    """Trains each candidate from scratch for a short proxy budget; validation accuracy
    (reported after every epoch to ``evaluate_reporting``'s ``report``).

    Args:
        space: The search space (its config fixes the input size and channels).
        dataset, data_root: Data, adapted to the space's input (see ``load_space_data``).
        epochs, max_steps, batch_size, lr, optimizer, seed, device: Proxy training budget.
        warmup_epochs: Linear warm-up before the cosine decay (steadies narrow networks).
        val_every: Validate every this many epochs (always after the last one).
    """

    TUNABLE: ClassVar[tuple[str, ...]] = ("lr", "weight_decay", "momentum", "optimizer", "batch_size",
                                          "label_smoothing", "warmup_epochs")

    def __init__(self, space: SearchSpace, *, dataset: str = "digits", data_root: str | None = None, epochs: int = 3,
                 max_steps: int | None = None, batch_size: int = 64, lr: float = 0.1, optimizer: str = "sgd",
                 warmup_epochs: float = 0.0, val_every: int = 1, seed: int = 0, device: str = "cpu") -> None:
        self.space = space
        self.config = TrainConfig(epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr,
                                  optimizer=optimizer, warmup_epochs=warmup_epochs, val_every=val_every,
                                  seed=seed, device=device)
        self.data = load_space_data(space, dataset, data_root)
        self.train_loader, self.val_loader, self.test_loader = self.data.loaders(batch_size, seed=seed)

    def evaluate(self, arch: Arch) -> Evaluation:
        return self.evaluate_reporting(arch, None)

    def evaluate_reporting(self, arch: Arch, report: Report | None,
                           hparams: Mapping[str, Any] | None = None) -> Evaluation:
        """``evaluate``, reporting each epoch's validation accuracy; ``hparams`` (names in
        ``TUNABLE``) replace the evaluator's training settings for this candidate.

        Raises:
            ValueError: A setting not in ``TUNABLE``, or a value ``TrainConfig`` refuses.
        """
        config, train_loader, val_loader = self.config, self.train_loader, self.val_loader
        if hparams:
            bad = sorted(set(hparams) - set(self.TUNABLE))
            if bad:
                raise ValueError(f"train evaluator: cannot vary {bad} per trial; tunable: {', '.join(self.TUNABLE)}")
            config = replace(self.config, **hparams)
            if config.batch_size != self.config.batch_size:
                train_loader, val_loader, _ = self.data.loaders(config.batch_size, seed=config.seed)
        torch.manual_seed(config.seed)  # same init for the same arch: comparable scores
        model = self.space.build(arch)

        def on_epoch(record: dict[str, Any]) -> None:
            if report is not None:
                report(record["epoch"], record["val_acc"])

        history = fit(model, train_loader, val_loader, config, progress=False, on_epoch=on_epoch)
        return Evaluation({"acc": history[-1]["val_acc"], "val_loss": history[-1]["val_loss"]}, model)

    def test_accuracy(self, arch: Arch, model: nn.Module | None) -> float | None:
        if model is None:
            return None
        return evaluate(model, self.test_loader, device=self.config.device)["acc"]
