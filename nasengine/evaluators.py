"""Evaluators score one architecture. Built-ins: ``train`` (proxy training from scratch)
and ``table`` (replay of a tabulated benchmark). Registered through the
``nasengine.evaluators`` entry points; a factory is called as ``factory(space, **options)``.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.data import load_dataset
from nasengine.space import SearchSpace
from nasengine.train import TrainConfig, evaluate, fit


@dataclass
class Evaluation:
    """Metrics of one architecture (``acc`` in 0..1 at least) and, if trained, the model."""

    metrics: dict[str, float]
    model: nn.Module | None = field(default=None, repr=False)


class Evaluator(abc.ABC):
    """Scores architectures of one space. One method to implement."""

    @abc.abstractmethod
    def evaluate(self, arch: Arch) -> Evaluation:
        """Validation metrics of ``arch`` (never test metrics)."""

    def test_accuracy(self, arch: Arch, model: nn.Module | None) -> float | None:
        """Test accuracy of a final model, when the evaluator has test data."""
        return None


class TrainEvaluator(Evaluator):
    """Trains each candidate from scratch for a short proxy budget; validation accuracy.

    Args:
        space: The search space (its config fixes the input size and channels).
        dataset, data_root: Data, adapted to the space's input (see ``load_dataset``).
        epochs, max_steps, batch_size, lr, optimizer, seed, device: Proxy training budget.
    """

    def __init__(self, space: SearchSpace, *, dataset: str = "digits", data_root: str | None = None, epochs: int = 3,
                 max_steps: int | None = None, batch_size: int = 64, lr: float = 0.1, optimizer: str = "sgd",
                 seed: int = 0, device: str = "cpu") -> None:
        self.space = space
        self.config = TrainConfig(epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr,
                                  optimizer=optimizer, seed=seed, device=device)
        cfg = space.config
        self.data = load_dataset(dataset, data_root=data_root, image_size=cfg.input_size, channels=cfg.in_channels)
        if self.data.num_classes != cfg.num_classes:
            raise ValueError(f"{dataset} has {self.data.num_classes} classes but the space has num_classes="
                             f"{cfg.num_classes}; add --set num_classes={self.data.num_classes}")
        self.train_loader, self.val_loader, self.test_loader = self.data.loaders(batch_size, seed=seed)

    def evaluate(self, arch: Arch) -> Evaluation:
        torch.manual_seed(self.config.seed)  # same init for the same arch: comparable scores
        model = self.space.build(arch)
        history = fit(model, self.train_loader, self.val_loader, self.config, progress=False)
        return Evaluation({"acc": history[-1]["val_acc"], "val_loss": history[-1]["val_loss"]}, model)

    def test_accuracy(self, arch: Arch, model: nn.Module | None) -> float | None:
        if model is None:
            return None
        return evaluate(model, self.test_loader, device=self.config.device)["acc"]


class TableEvaluator(Evaluator):
    """Looks accuracies up in a table written by ``nasengine tabulate`` (instant, exact replay)."""

    def __init__(self, space: SearchSpace, *, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"benchmark table {str(path)!r} does not exist; make one with `nasengine tabulate`")
        table = json.loads(path.read_text())
        if table.get("space") != space.name or table.get("config") != _plain(space.config.to_dict()):
            raise ValueError(f"table {str(path)!r} was made for space {table.get('space')!r} with config "
                             f"{table.get('config')}, not for {space.name!r} with {_plain(space.config.to_dict())}")
        self.entries: dict[str, dict[str, Any]] = {e["id"]: e for e in table["entries"]}
        self.path = path

    def evaluate(self, arch: Arch) -> Evaluation:
        entry = self.entries.get(arch.id)
        if entry is None:
            raise KeyError(f"architecture {arch.id} is not in table {str(self.path)!r}")
        return Evaluation({"acc": entry["acc"]})

    def best(self) -> float:
        return max(e["acc"] for e in self.entries.values())


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def parse_evaluator(spec: str) -> tuple[str, dict[str, Any]]:
    """``"table:FILE"`` -> ``("table", {"path": FILE})``; ``"train"`` -> ``("train", {})``."""
    name, sep, arg = spec.partition(":")
    if name == "table":
        if not arg:
            raise ValueError("--evaluator table needs a file: --evaluator table:FILE")
        return name, {"path": arg}
    if sep:
        raise ValueError(f"evaluator {name!r} takes no ':' argument (got {spec!r})")
    return name, {}
