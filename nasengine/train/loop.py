"""A standalone train / evaluate loop and BN recalibration.

SGD (Nesterov) or AdamW, cosine schedule with optional linear warm-up, label smoothing,
per-epoch checkpoints so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from nasengine.utils.devices import resolve_device
from nasengine.utils.files import save_atomic
from nasengine.utils.progress import progress_bar
from nasengine.utils.safe_load import load_checkpoint
from nasengine.utils.validation import finite_number, one_of, positive_int

OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.0
    max_steps: int | None = None
    val_every: int = 1
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_int("val_every", self.val_every)
        one_of("optimizer", self.optimizer, OPTIMIZERS)
        # Numbers checked as numbers: a value that arrives as text must not reach the optimizer.
        finite_number("lr", self.lr, low=0, low_open=True, high=None)
        finite_number("momentum", self.momentum, low=0, high=1)
        finite_number("weight_decay", self.weight_decay, low=0, high=None)
        finite_number("warmup_epochs", self.warmup_epochs, low=0, high=None)
        finite_number("label_smoothing", self.label_smoothing, low=0, high=1)
        if self.max_steps is not None:
            positive_int("max_steps", self.max_steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on BN and biases: standard practice, matters for small nets.
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, *, device: str | torch.device = "cpu") -> dict[str, float]:
    """Top-1 accuracy (0..1) and mean cross-entropy of ``model`` on ``loader``."""
    model.eval()
    correct, total, loss = 0, 0, 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        total += y.numel()
    if total == 0:
        raise ValueError("evaluation data is empty")
    return {"acc": correct / total, "loss": loss / total}


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    cfg: TrainConfig,
    *,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` and return one record per epoch (train loss, val acc, lr, time).

    With ``checkpoint`` set, state is saved after every epoch and a run that finds the
    file resumes from it (same config expected).
    """
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    steps_per_epoch = len(train_loader)
    total_steps = cfg.epochs * steps_per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    scheduler = cosine_schedule(optimizer, total_steps, int(cfg.warmup_epochs * steps_per_epoch))
    history: list[dict[str, Any]] = []
    start_epoch, step = 0, 0
    ckpt_path = Path(checkpoint) if checkpoint else None
    if ckpt_path and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, what="training checkpoint", map_location=device,
                                required=("model", "optimizer", "scheduler", "epoch", "step", "history"))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, step, history = state["epoch"], state["step"], state["history"]
        print(f"resuming from {ckpt_path}: epoch {start_epoch} of {cfg.epochs} done", file=sys.stderr)
    for epoch in range(start_epoch, cfg.epochs):
        if step >= total_steps:
            break
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        model.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = progress_bar(train_loader, enabled=progress, desc=f"epoch {epoch + 1}/{cfg.epochs}")
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            loss_sum += loss.item() * y.numel()
            seen += y.numel()
            if step >= total_steps:
                break
        record: dict[str, Any] = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / max(1, seen),
                                  "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - t0}
        last = epoch + 1 == cfg.epochs or step >= total_steps
        if val_loader is not None and (last or (epoch + 1) % cfg.val_every == 0):
            record.update({f"val_{k}": v for k, v in evaluate(model, val_loader, device=device).items()})
        history.append(record)
        if ckpt_path:
            save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                          "epoch": epoch + 1, "step": step, "history": history}, ckpt_path)
        if on_epoch:
            on_epoch(record)
    return history


@torch.no_grad()
def recalibrate_bn(model: nn.Module, loader: Iterable, *, batches: int = 20, device: str | torch.device = "cpu") -> nn.Module:
    """Recompute BatchNorm running statistics of ``model`` on ``batches`` training batches.

    Needed whenever weights are inherited from a weight-sharing network: the shared
    running statistics belong to the mixture of paths, not to this architecture. The
    statistics are reset and re-estimated as exact averages (momentum ``None``).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    try:
        for i, (x, _) in enumerate(loader):
            if i >= batches:
                break
            model(x.to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()
    return model
