"""The one-shot training loop shared by SPOS supernets and MetaPruning's PruningNet.

One architecture per step: ``sample_arch(rng)`` with an rng seeded by ``(seed, step)``,
``apply_arch(model, arch)``, then an SGD step on a batch. A checkpoint is written after
every epoch and, in a single process, on interrupt (``save_atomic``; SIGINT and SIGTERM
wait for the update in flight); a run that finds it resumes at the exact step, with the
same paths, batches, optimizer and random state, so its weights equal an uninterrupted run's.
Under ``torchrun`` every rank trains the same path on its share of each batch (see
``supernet.distributed``); rank 0 writes checkpoints and TensorBoard.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from nasengine.arch import Arch
from nasengine.data import DataSplits
from nasengine.train.loop import TrainConfig, cosine_schedule, make_optimizer
from nasengine.utils.files import save_atomic
from nasengine.utils.progress import EpochLog
from nasengine.utils.safe_load import load_checkpoint
from nasengine.utils.seeding import epoch_seed
from nasengine.utils.signals import interrupts_deferred
from nasengine.utils.validation import non_negative_int, one_of, positive_int
from supernet.distributed import World, average_buffers, broadcast_state, sync_path_grads, world
from supernet.sampling import step_rng

SYNC_MODES = ("path", "ddp")
#: Config fields that do not change the trained weights: they may differ between a run and
#: its resumption, and a saved network's identity leaves them out.
RESUMABLE_CHANGES = ("device", "log_every", "num_workers")


@dataclass(frozen=True)
class OneShotConfig:
    """Hyper-parameters of one-shot training (SPOS: SGD, momentum 0.9, weight decay 4e-5,
    label smoothing 0.1, batch 1024 and 120 epochs on ImageNet).

    Args:
        epochs: Passes over the training split.
        max_steps: Stop after this many steps (the schedule spans them); ``None``: all.
        batch_size: Global batch size (split evenly across ranks and ``accumulate``).
        lr, momentum, weight_decay: SGD (Nesterov) settings; no decay on BN and biases.
        label_smoothing: Cross-entropy label smoothing.
        warmup_epochs: Linear learning-rate warm-up before the cosine decay.
        accumulate: Micro-batches per step (same update as one batch, less memory).
        sync: ``path`` (one all-reduce of the sampled path's gradients) or ``ddp``
            (torch ``DistributedDataParallel`` with ``find_unused_parameters=True``).
        seed: Seeds the paths, the batch order and torch's random state.
        device: ``cpu`` or ``cuda`` (``cuda:LOCAL_RANK`` under ``torchrun``).
        log_every: Steps between TensorBoard points.
        num_workers: Data-loader worker processes.
    """

    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.0
    accumulate: int = 1
    sync: str = "path"
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "accumulate", "log_every"):
            positive_int(name, getattr(self, name))
        if self.max_steps is not None:
            positive_int("max_steps", self.max_steps)
        one_of("sync", self.sync, SYNC_MODES)
        if not self.warmup_epochs >= 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        non_negative_int("num_workers", self.num_workers)
        # The optimizer settings are validated by the train loop's own config.
        self.optimizer_config()

    def optimizer_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="sgd", lr=self.lr,
                           momentum=self.momentum, weight_decay=self.weight_decay,
                           label_smoothing=self.label_smoothing, seed=self.seed, device=self.device)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def weight_settings(self) -> dict[str, Any]:
        """The fields that decide the trained weights (all but ``RESUMABLE_CHANGES``)."""
        return {k: v for k, v in self.to_dict().items() if k not in RESUMABLE_CHANGES}


def train_one_shot(model: nn.Module, sample_arch: Callable[[np.random.Generator], Arch],
                   apply_arch: Callable[[nn.Module, Arch], None], data: DataSplits, config: OneShotConfig,
                   checkpoint: Path, *, progress: bool = True, tb_dir: Path | None = None) -> nn.Module:
    """Train ``model`` one sampled path per step; resumes from ``checkpoint`` if it exists.

    Returns:
        ``model``, trained (every rank holds the same weights).
    """
    w = world(config.device)
    checkpoint = Path(checkpoint)
    model.to(w.device)
    per_rank = _per_rank_batch(config, w, len(data.train))
    steps_per_epoch = max(1, len(data.train) // config.batch_size)
    total = config.epochs * steps_per_epoch if config.max_steps is None else min(config.max_steps,
                                                                                  config.epochs * steps_per_epoch)
    optimizer = make_optimizer(model, config.optimizer_config())
    scheduler = cosine_schedule(optimizer, total, int(config.warmup_epochs * steps_per_epoch))
    torch.manual_seed(config.seed)
    state = {"step": 0, "history": []}
    if checkpoint.exists():
        state = _restore(checkpoint, model, optimizer, scheduler, config, w)
        if w.main:
            print(f"resuming from {checkpoint}: step {state['step']} of {total} "
                  f"(epoch {state['step'] // steps_per_epoch} of {config.epochs} done)", file=sys.stderr)
    broadcast_state(model, w)
    net: nn.Module = model
    if w.distributed and config.sync == "ddp":
        net = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True, broadcast_buffers=False)
    tb = _tensorboard(tb_dir) if w.main else None
    step, history = state["step"], state["history"]
    log_epoch = EpochLog(config.epochs, enabled=progress and w.main, prefix="supernet ")

    def save() -> None:
        if w.main:
            save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "step": step, "history": history,
                         "rng": torch.get_rng_state(), "config": config.to_dict()}, checkpoint)

    try:
        while step < total:
            epoch = step // steps_per_epoch
            loader = _loader(data, config, w, epoch, step % steps_per_epoch, per_rank, steps_per_epoch)
            t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
            bar = _bar(loader, progress and w.main, epoch, config.epochs)
            for x, y in bar:
                with interrupts_deferred():  # an interrupt finds the update done or not begun
                    arch = sample_arch(step_rng(config.seed, step))
                    apply_arch(model, arch)
                    x, y = x.to(w.device, non_blocking=True), y.to(w.device, non_blocking=True)
                    loss, hits = update_step(net, model, optimizer, x, y, config, w)
                    scheduler.step()
                    step += 1
                seen, loss_sum, correct = seen + len(y), loss_sum + loss * len(y), correct + hits
                if tb is not None and step % config.log_every == 0:
                    tb.add_scalar("supernet/loss", loss, step)
                    tb.add_scalar("supernet/lr", scheduler.get_last_lr()[0], step)
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss:.3f}")
                if step >= total:
                    break
            with interrupts_deferred():  # the epoch's record and checkpoint are written whole
                average_buffers(model, w)
                history.append({"epoch": epoch + 1, "step": step, "train_loss": loss_sum / max(1, seen),
                                "train_acc": correct / max(1, seen), "lr": scheduler.get_last_lr()[0],
                                "seconds": time.perf_counter() - t0})
                save()
            log_epoch(history[-1])
            if tb is not None:
                tb.add_scalar("supernet/epoch_loss", history[-1]["train_loss"], epoch + 1)
                tb.add_scalar("supernet/epoch_train_acc", history[-1]["train_acc"], epoch + 1)
                tb.flush()
    except KeyboardInterrupt:
        # Mid-epoch, each rank's BN statistics are still its own (averaged at the epoch's
        # end), so a data-parallel run resumes from its last epoch's checkpoint instead.
        if not w.distributed:
            save()
        raise
    finally:
        if tb is not None:
            tb.close()
    return model


def load_history(checkpoint: Path) -> list[dict[str, Any]]:
    """Per-epoch records (loss, accuracy, lr, time) of a one-shot training checkpoint."""
    return load_checkpoint(checkpoint, what="one-shot training state", required=("history",))["history"]


def update_step(net: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, config: OneShotConfig, w: World) -> tuple[float, int]:
    """One optimizer step over ``accumulate`` micro-batches; (mean loss, correct count).

    Args:
        net: What runs the forward pass (``model`` itself, or its DDP wrapper).
        model: The trained module (its sampled path's gradients are synchronised).
        optimizer: Steps ``model``'s parameters.
        x, y: This rank's batch.
        config: Label smoothing, ``accumulate`` and ``sync``.
        w: The process group (``World()``: a single process).
    """
    optimizer.zero_grad(set_to_none=True)  # unused candidates keep no gradient: SGD skips them
    loss_sum, hits = 0.0, 0
    chunks = list(zip(x.tensor_split(config.accumulate), y.tensor_split(config.accumulate)))
    for i, (xm, ym) in enumerate(chunks):
        last = i == len(chunks) - 1
        no_sync = net.no_sync() if isinstance(net, nn.parallel.DistributedDataParallel) and not last else None
        with no_sync or contextlib.nullcontext():
            logits = net(xm)
            loss = F.cross_entropy(logits, ym, label_smoothing=config.label_smoothing) * (len(ym) / len(y))
            loss.backward()
        loss_sum += loss.item()
        hits += int((logits.detach().argmax(1) == ym).sum())
    if config.sync == "path":
        sync_path_grads(model, w)
    optimizer.step()
    return loss_sum, hits


def _per_rank_batch(config: OneShotConfig, w: World, n_train: int) -> int:
    batch = min(config.batch_size, n_train)
    if batch % (w.size * config.accumulate):
        raise ValueError(f"batch_size {batch} must be divisible by world size x accumulate "
                         f"({w.size} x {config.accumulate})")
    return batch // w.size


def _loader(data: DataSplits, config: OneShotConfig, w: World, epoch: int, skip: int, per_rank: int,
            steps: int) -> DataLoader:
    """This rank's batches of ``epoch`` from step ``skip`` on; the order depends on (seed, epoch)."""
    gen = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
    order = torch.randperm(len(data.train), generator=gen)
    batch = per_rank * w.size
    batches = [order[s * batch: (s + 1) * batch].tensor_split(w.size)[w.rank].tolist() for s in range(skip, steps)]
    # Its own generator: a loader otherwise draws from torch's global state, which dropout replays on resume.
    return DataLoader(data.train, batch_sampler=batches, num_workers=config.num_workers,
                      pin_memory=w.device.type == "cuda", generator=gen)


def _restore(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
             config: OneShotConfig, w: World) -> dict[str, Any]:
    state = load_checkpoint(path, what="one-shot training state", map_location=w.device,
                            required=("model", "optimizer", "scheduler", "step", "history", "rng", "config"))
    saved = dict(state["config"])
    now = config.weight_settings()
    differ = sorted(k for k in now if saved.get(k) != now[k])
    if differ:
        changes = ", ".join(f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in differ)
        raise ValueError(f"checkpoint {str(path)!r} was made with other settings ({changes}); "
                         "use the same settings or remove it to start over")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"].cpu())
    return state


def _bar(loader: DataLoader, enabled: bool, epoch: int, epochs: int):
    from nasengine.utils.progress import progress_bar

    return progress_bar(loader, enabled=enabled, desc=f"supernet epoch {epoch + 1}/{epochs}")


def _tensorboard(tb_dir: Path | None):
    if tb_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(tb_dir))
