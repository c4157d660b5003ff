"""ENAS (Pham et al. 2018): the controller's proposals train one shared network, and the
shared weights score the proposals.

Strategy ``enas`` = the ``rl`` controller (LSTM, REINFORCE) + this evaluator, inside the
ordinary search loop. For each proposed architecture the evaluator trains the shared
network (``space.network()``) along that path for ``train_steps`` SGD steps on training
batches, then returns the path's accuracy on one validation minibatch as ``acc``: the
reward the controller learns from. Shared weights, optimizer, step counters and random
state are saved atomically in the run folder after every evaluation, so an interrupted
search resumes with them (the trial in flight is re-run, training its path once more).

Rewards are measured with the minibatch's own BN statistics (the shared running averages
mix all paths); the returned model is the standalone network with inherited weights and
BN recalibrated on ``bn_batches`` training batches, so exports carry usable weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import default_collate

from nasengine.arch import Arch
from nasengine.evaluators.base import Evaluation
from nasengine.search.config import Strategy
from nasengine.space import SearchSpace
from nasengine.train.loop import TrainConfig, make_optimizer
from nasengine.utils.files import jsonable, save_atomic
from nasengine.utils.safe_load import load_checkpoint
from nasengine.utils.seeding import epoch_permutation
from nasengine.utils.validation import non_negative_int, positive_int
from supernet.evaluator import WeightSharingEvaluator
from supernet.sampling import step_rng
from supernet.spos import PathSelector

#: The shared-weight state inside the run folder.
STATE_FILE = "enas_shared.pt"


class EnasEvaluator(WeightSharingEvaluator):
    """Trains shared weights along each proposed path, then scores it on a minibatch.

    Args:
        space: The search space (its ``network()`` holds the shared weights).
        dataset, data_root: Data, adapted to the space's input.
        seed: Seeds the shared network's initialisation and the batch order.
        run_dir: Run folder; the state is kept in ``run_dir/enas_shared.pt``
            (``None``: in memory only).
        train_steps: Shared-weight SGD steps per proposed architecture.
        warmup_steps: Steps on uniformly random paths before the first proposal.
        batch_size: Training batch size.
        val_batch_size: Size of the validation minibatch a reward is measured on.
        lr, momentum, weight_decay: SGD (Nesterov) at a constant learning rate.
        bn_batches: Training batches that recalibrate BN of the returned model.
        device: Where the shared network trains.
    """

    def __init__(self, space: SearchSpace, *, dataset: str = "digits", data_root: str | None = None, seed: int = 0,
                 run_dir: str | Path | None = None, train_steps: int = 20, warmup_steps: int = 0,
                 batch_size: int = 64, val_batch_size: int = 128, lr: float = 0.05, momentum: float = 0.9,
                 weight_decay: float = 1e-4, bn_batches: int = 10, device: str = "cpu") -> None:
        positive_int("train_steps", train_steps)
        positive_int("val_batch_size", val_batch_size)
        non_negative_int("warmup_steps", warmup_steps)
        self.config = TrainConfig(batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                  label_smoothing=0.0, seed=seed, device=device)
        super().__init__(space, dataset=dataset, data_root=data_root, bn_batches=bn_batches, batch_size=batch_size,
                         seed=seed, device=device)
        self.seed, self.train_steps, self.warmup_steps = seed, train_steps, warmup_steps
        self.batch_size = min(batch_size, len(self.data.train))
        self.val_batch_size = min(val_batch_size, len(self.data.val))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = space.network().to(device)
        self.select = PathSelector(self.net)
        self.optimizer = make_optimizer(self.net, self.config)
        self.step = 0  # shared-weight steps taken
        self.evals = 0  # rewards measured (picks the validation minibatch)
        self.rng_state = torch.Generator().manual_seed(seed).get_state()  # dropout randomness
        self.identity = {"space": space.name, "space_config": jsonable(space.config.to_dict()),
                         "seed": seed, "batch_size": batch_size, "lr": lr, "momentum": momentum,
                         "weight_decay": weight_decay, "warmup_steps": warmup_steps}
        self.path = None if run_dir is None else Path(run_dir) / STATE_FILE
        if self.path is not None and self.path.exists():
            self._load()

    # --- the evaluator ------------------------------------------------------------------
    def evaluate(self, arch: Arch) -> Evaluation:
        while self.step < self.warmup_steps:
            self._train_step(self.space.sample(step_rng(self.seed, self.step)))
        for _ in range(self.train_steps):
            self._train_step(arch)
        acc, loss = self._reward(arch)
        self.evals += 1
        self._save()
        model = self.recalibrate(self.space.build(arch, from_supernet=self.net).to(self.device))
        return Evaluation({"acc": acc, "minibatch_loss": loss, "shared_steps": float(self.step)}, model.eval())

    # --- shared-weight training -----------------------------------------------------------
    def _train_step(self, arch: Arch) -> None:
        self.select(self.net, arch)
        x, y = self._batch(self.data.train, self.batch_size, self.step, shuffle=True)
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.rng_state)
            self.net.train()
            loss = F.cross_entropy(self.net(x), y)
            self.rng_state = torch.get_rng_state()
        self.optimizer.zero_grad(set_to_none=True)  # the other paths keep no gradient: SGD skips them
        loss.backward()
        self.optimizer.step()
        self.step += 1

    @torch.no_grad()
    def _reward(self, arch: Arch) -> tuple[float, float]:
        """Accuracy and loss of ``arch`` on the next validation minibatch, BN on its own
        statistics (the running averages are restored afterwards) and dropout off."""
        self.select(self.net, arch)
        x, y = self._batch(self.data.val, self.val_batch_size, self.evals, shuffle=False)
        norms = [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [{k: v.clone() for k, v in m._buffers.items() if v is not None} for m in norms]
        self.net.eval()
        for m in norms:
            m.train()
        try:
            logits = self.net(x)
        finally:
            for m, buffers in zip(norms, saved):
                for k, v in buffers.items():
                    m._buffers[k].copy_(v)
            self.net.train()
        return (logits.argmax(1) == y).float().mean().item(), F.cross_entropy(logits, y).item()

    def _batch(self, dataset: Any, size: int, index: int, *, shuffle: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``index`` of an endless stream: epochs of ``len // size`` batches, each epoch
        in an order that depends only on (seed, epoch), so a resumed run sees the same."""
        per_epoch = max(1, len(dataset) // size)
        epoch, k = divmod(index, per_epoch)
        order = epoch_permutation(len(dataset), self.seed, epoch) if shuffle else range(len(dataset))
        x, y = default_collate([dataset[i] for i in order[k * size: (k + 1) * size]])
        return x.to(self.device), y.to(self.device)

    # --- state ----------------------------------------------------------------------------
    def _save(self) -> None:
        if self.path is not None:
            save_atomic({"identity": self.identity, "model": self.net.state_dict(),
                         "optimizer": self.optimizer.state_dict(), "step": self.step, "evals": self.evals,
                         "rng": self.rng_state}, self.path)

    def _load(self) -> None:
        state = load_checkpoint(self.path, what="ENAS shared-weight state", map_location=self.device,
                                required=("identity", "model", "optimizer", "step", "evals", "rng"))
        if state["identity"] != self.identity:
            raise ValueError(f"{self.path} holds shared weights trained with {state['identity']}, not "
                             f"{self.identity}; use the same settings or another output folder")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.evals, self.rng_state = state["step"], state["evals"], state["rng"].cpu()


#: ``--strategy enas``: the ``rl`` controller learning from the shared weights' rewards.
STRATEGY = Strategy("rl", "enas")
