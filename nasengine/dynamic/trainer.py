"""Phased training of dynamic networks with per-epoch checkpoints (resumable).

A method's recipe lists its phases (e.g. RNP: pre-train, then rounds of decision-network
Q-learning and backbone fine-tuning; SkipNet: pre-train, relaxed gates, REINFORCE) and
says what one step of each phase does. This loop owns the optimizers, the schedule, the
checkpoints (model, optimizers, RNG, history after every epoch) and validation.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader

from nasengine.dynamic.costs import COSTS
from nasengine.dynamic.metrics import evaluate_dynamic
from nasengine.train.loop import TrainConfig, cosine_schedule, make_optimizer, recalibrate_bn
from nasengine.utils.devices import resolve_device
from nasengine.utils.files import save_atomic
from nasengine.utils.progress import progress_bar
from nasengine.utils.safe_load import load_checkpoint
from nasengine.utils.validation import finite_number, non_negative_int, one_of, positive_int


@dataclass(frozen=True)
class DynamicTrainConfig:
    """Hyper-parameters of dynamic-network training.

    Attributes:
        epochs: Backbone pre-training epochs (every method; dense).
        nested_epochs: RNP: epochs training random nested widths next to the full one.
        policy_epochs: RNP: decision-network epochs per round; SkipNet / routing:
            REINFORCE epochs.
        finetune_epochs: RNP: backbone fine-tuning epochs per round; SkipNet / routing:
            backbone fine-tuning under the greedy gates at the end.
        rounds: RNP: alternations of decision training and fine-tuning (Algorithm 1).
        relaxed_epochs: SkipNet / routing: supervised epochs with straight-through gates.
        penalty: Computation penalty: the speed / accuracy trade-off.
        cost: What the penalty charges (``nasengine.dynamic.costs``): "groups" (share of
            channel groups; gates: of MACs), "macs", or "latency" (batch-1 time of each
            action, measured on this machine when the decision training starts).
        alpha: Weight of the classification loss in the reward.
        gamma: RNP: discount of future Q-values.
        epsilon_start, epsilon_end: RNP: exploration rate, decayed linearly over the
            first 70% of decision-network steps.
        tau: Gumbel temperature of relaxed routing gates.
        batch_size, lr, finetune_lr, policy_lr, weight_decay, label_smoothing: optimisation
            (SGD with Nesterov momentum for the backbone, AdamW for decision networks);
            ``lr=None`` takes the method's pre-training rate (``recipe.default_lr``).
        seed: Seed of weights, data order and exploration.
        device: "cpu", "cuda", ...
    """

    epochs: int = 10
    nested_epochs: int = 2
    policy_epochs: int = 2
    finetune_epochs: int = 1
    rounds: int = 3
    relaxed_epochs: int = 4
    penalty: float = 0.5
    cost: str = "groups"
    alpha: float = 1.0
    gamma: float = 1.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    tau: float = 1.0
    batch_size: int = 64
    lr: float | None = None
    finetune_lr: float = 0.005
    policy_lr: float = 1e-2
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            positive_int(name, getattr(self, name))
        for name in ("nested_epochs", "policy_epochs", "finetune_epochs", "rounds", "relaxed_epochs"):
            non_negative_int(name, getattr(self, name))
        # Finite numbers in range: a NaN penalty or learning rate would train to NaN without a word.
        for name in ("lr", "finetune_lr", "policy_lr", "tau"):
            if getattr(self, name) is not None:
                finite_number(name, getattr(self, name), low=0, low_open=True, high=None)
        one_of("cost", self.cost, COSTS)
        for name in ("penalty", "alpha", "weight_decay"):
            finite_number(name, getattr(self, name), low=0, high=None)
        finite_number("label_smoothing", self.label_smoothing, low=0, high=1)
        for name in ("gamma", "epsilon_start", "epsilon_end"):
            finite_number(name, getattr(self, name), low=0, high=1, high_open=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Epoch:
    """One epoch of the schedule: phase name, index of the phase, epoch within it."""

    phase: str
    phase_index: int
    index: int
    total: int


class Recipe(Protocol):
    """What a method contributes to the loop."""

    default_lr: float

    def phases(self, cfg: DynamicTrainConfig) -> list[tuple[str, int]]: ...

    def optimized(self, model: nn.Module, phase: str) -> list[tuple[nn.Module, str]]:
        """Modules trained in ``phase`` with "backbone" or "policy" settings."""

    def step(self, model: nn.Module, epoch: Epoch, x: torch.Tensor, y: torch.Tensor, cfg: DynamicTrainConfig,
             progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch (and numbers to log); ``progress`` runs 0..1 over the phase."""


def schedule(recipe: Recipe, cfg: DynamicTrainConfig) -> list[Epoch]:
    epochs = []
    for p, (name, count) in enumerate(recipe.phases(cfg)):
        epochs.extend(Epoch(name, p, e, count) for e in range(count))
    return epochs


def train_dynamic(model: nn.Module, recipe: Recipe, train_loader: DataLoader, val_loader: DataLoader | None,
                  cfg: DynamicTrainConfig, *, checkpoint: str | Path | None = None, progress: bool = True,
                  on_epoch: Callable[[dict[str, Any]], None] | None = None,
                  after_pretrain: Callable[[nn.Module], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Run every phase of ``recipe``; resumes from ``checkpoint`` when the file exists.

    ``after_pretrain(model)`` runs once the backbone is pre-trained (e.g. to measure the
    dense backbone); what it returns is added to that epoch's record.
    """
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model.to(device)
    plan = schedule(recipe, cfg)
    history: list[dict[str, Any]] = []
    start, opt_state = 0, None
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt and ckpt.exists():
        state = load_checkpoint(ckpt, what="training checkpoint", map_location=device,
                                required=("model", "next_epoch", "history", "optimizers", "rng"))
        model.load_state_dict(state["model"])
        start, history, opt_state = state["next_epoch"], state["history"], state["optimizers"]
        torch.set_rng_state(state["rng"])
        print(f"resuming from {ckpt}: epoch {start} of {len(plan)} done", file=sys.stderr)
    optimizers: list[tuple[torch.optim.Optimizer, Any]] = []
    for u in range(start, len(plan)):
        epoch = plan[u]
        if u == start or epoch.index == 0:
            optimizers = _phase_optimizers(model, recipe, epoch, cfg, len(train_loader))
            if opt_state is not None and epoch.index > 0:
                for (opt, sched), saved in zip(optimizers, opt_state):
                    opt.load_state_dict(saved["optimizer"])
                    sched.load_state_dict(saved["scheduler"])
            opt_state = None
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(u)
        desc = f"{epoch.phase} {epoch.index + 1}/{epoch.total}"
        record = _run_epoch(model, recipe, epoch, optimizers, train_loader, cfg, progress, desc)
        record["epoch"] = u + 1
        if u == len(plan) - 1 and epoch.phase != "pretrain":
            # BN statistics exactly under the final decisions, not a moving average over
            # the policies seen while fine-tuning.
            recalibrate_bn(model, train_loader, batches=len(train_loader), device=device)
        if after_pretrain is not None and epoch.phase == "pretrain" and epoch.index == epoch.total - 1:
            record.update(after_pretrain(model))
        if val_loader is not None:
            record.update({f"val_{k}": v for k, v in evaluate_dynamic(model, val_loader, device=device).items()})
        history.append(record)
        if ckpt:
            save_atomic({"model": model.state_dict(), "next_epoch": u + 1, "history": history, "rng": torch.get_rng_state(),
                         "optimizers": [{"optimizer": o.state_dict(), "scheduler": s.state_dict()} for o, s in optimizers]},
                        ckpt)
        if on_epoch:
            on_epoch(record)
    return history


def _phase_optimizers(model: nn.Module, recipe: Recipe, epoch: Epoch, cfg: DynamicTrainConfig,
                      steps_per_epoch: int) -> list[tuple[torch.optim.Optimizer, Any]]:
    out = []
    total = max(1, epoch.total * steps_per_epoch)
    # Linear warm-up of pre-training: deep plain stacks (VGG) can collapse in the first steps.
    warmup = min(steps_per_epoch, total // 4) if epoch.phase == "pretrain" else 0
    for module, kind in recipe.optimized(model, epoch.phase):
        if kind == "policy":
            opt_cfg = TrainConfig(optimizer="adamw", lr=cfg.policy_lr, weight_decay=0.0)
        else:
            lr = (cfg.lr or recipe.default_lr) if epoch.phase in ("pretrain", "nested") else cfg.finetune_lr
            opt_cfg = TrainConfig(optimizer="sgd", lr=lr, weight_decay=cfg.weight_decay)
        optimizer = make_optimizer(module, opt_cfg)
        out.append((optimizer, cosine_schedule(optimizer, total, warmup)))
    return out


def _run_epoch(model: nn.Module, recipe: Recipe, epoch: Epoch, optimizers: list, loader: DataLoader,
               cfg: DynamicTrainConfig, progress: bool, desc: str) -> dict[str, Any]:
    t0, seen = time.perf_counter(), 0
    sums: dict[str, float] = {}
    steps = len(loader)
    for i, (x, y) in enumerate(progress_bar(loader, enabled=progress, desc=desc)):
        x, y = x.to(cfg.device), y.to(cfg.device)
        loss, stats = recipe.step(model, epoch, x, y, cfg, (epoch.index * steps + i) / (epoch.total * steps))
        for opt, _ in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt, sched in optimizers:
            opt.step()
            sched.step()
        seen += y.numel()
        for k, v in {"loss": loss.item(), **stats}.items():
            sums[k] = sums.get(k, 0.0) + v * y.numel()
    record = {"phase": epoch.phase, **{k: v / max(1, seen) for k, v in sums.items()}}
    record["seconds"] = time.perf_counter() - t0
    return record
