"""Training recipe of runtime neural pruning (the paper's Algorithm 1).

1. Pre-train the dense backbone (every group), as the paper starts from a trained CNN.
2. Nested training: every batch is seen twice, with all groups and with random per-sample,
   per-layer widths, so each nested prefix is a usable network before the decision network
   exists (starting it from scratch makes deep plain stacks collapse).
3. ``rounds`` times: train the decision network by Q-learning (epsilon-greedy actions,
   reward ``-penalty * cost`` per step and ``-alpha * L_cls`` at the end, one-step TD
   targets), then fine-tune the backbone under the greedy decisions. The cost of an action
   (``nasengine.dynamic.costs``; by default the share of groups computed, ``(a + 1) / k /
   steps``) is scaled so that computing everything costs ``penalty`` in units of the loss.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.costs import CostCache, route_cost
from nasengine.dynamic.rnp import RNPNetwork
from nasengine.dynamic.trainer import DynamicTrainConfig, Epoch


class RNPRecipe:
    """Phases and steps of RNP training (see the module docstring)."""

    #: VGG-16 on small data diverges at the usual 0.05.
    default_lr = 0.01

    def __init__(self) -> None:
        self.costs = CostCache()

    def phases(self, cfg: DynamicTrainConfig) -> list[tuple[str, int]]:
        rounds = [("policy", cfg.policy_epochs), ("finetune", cfg.finetune_epochs)] * cfg.rounds
        return [(name, n) for name, n in [("pretrain", cfg.epochs), ("nested", cfg.nested_epochs), *rounds] if n > 0]

    def optimized(self, model: RNPNetwork, phase: str) -> list[tuple[nn.Module, str]]:
        if phase == "policy":
            return [(model.decision, "policy")]
        return [(nn.ModuleList([model.stem, model.units, model.classifier]), "backbone")]

    def step(self, model: RNPNetwork, epoch: Epoch, x: torch.Tensor, y: torch.Tensor, cfg: DynamicTrainConfig,
             progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        if epoch.phase == "pretrain":
            model.train()
            logits = model.forward_masked(x, actions=_full(model, x)).logits
            return F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing), {}
        if epoch.phase == "nested":
            return self._nested(model, x, y, cfg)
        if epoch.phase == "policy":
            # Exploration decays over all rounds, not within each one.
            done = sum(1 for name, _ in self.phases(cfg)[: epoch.phase_index] if name == "policy")
            rounds = sum(1 for name, _ in self.phases(cfg) if name == "policy")
            return self._q_learning(model, x, y, cfg, (done + progress) / rounds)
        model.train()
        trace = model.forward_masked(x)
        loss = F.cross_entropy(trace.logits, y, label_smoothing=cfg.label_smoothing)
        return loss, {"groups": _mean_groups(trace.actions, model)}

    @staticmethod
    def _nested(model: RNPNetwork, x: torch.Tensor, y: torch.Tensor,
                cfg: DynamicTrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
        model.train()
        random = sample_widths(x.shape[0], model.steps, model.config.groups, x.device)
        smoothing = cfg.label_smoothing
        loss_full = F.cross_entropy(model.forward_masked(x, actions=_full(model, x)).logits, y, label_smoothing=smoothing)
        loss_rand = F.cross_entropy(model.forward_masked(x, actions=random).logits, y, label_smoothing=smoothing)
        return loss_full + loss_rand, {"loss_full": loss_full.item(), "loss_random": loss_rand.item()}

    def _q_learning(self, model: RNPNetwork, x: torch.Tensor, y: torch.Tensor, cfg: DynamicTrainConfig,
                    progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        # The backbone is fixed, but its BN normalises with batch statistics (running ones
        # left untouched): running statistics belong to the previous policy and would
        # misreport the loss of the actions being explored.
        model.train()
        epsilon = epsilon_at(cfg, progress)
        with frozen_bn_statistics(model):
            trace = model.forward_masked(x, epsilon=epsilon, train_backbone=False, train_decision=True)
        q = torch.stack(trace.scores, 1)  # [N, steps, k]
        actions = trace.actions
        with torch.no_grad():
            ce = F.cross_entropy(trace.logits, y, reduction="none")
            follows = [unit.input_follows_previous for unit in model.units]
            rewards = -cfg.penalty * route_cost(self.costs.get(model, cfg.cost), actions, follows).to(q.dtype)
            rewards[:, -1] -= cfg.alpha * ce
            targets = rewards.clone()
            targets[:, :-1] += cfg.gamma * q[:, 1:].max(2).values
        taken = q.gather(2, actions.unsqueeze(2)).squeeze(2)
        loss = F.smooth_l1_loss(taken, targets)
        acc = (trace.logits.argmax(1) == y).float().mean().item()
        return loss, {"epsilon": epsilon, "groups": _mean_groups(actions, model), "train_acc": acc}


@contextmanager
def frozen_bn_statistics(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers keep their running statistics (momentum 0) inside the block."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


def sample_widths(n: int, steps: int, groups: int, device: torch.device) -> torch.Tensor:
    """Pre-training actions ``[n, steps]``: a random level per sample, moved by -1, 0 or +1
    group per layer. Independent uniform widths per layer make a one-group bottleneck in
    almost every sample, which the network cannot learn around."""
    level = torch.randint(0, groups, (n, 1), device=device)
    jitter = torch.randint(-1, 2, (n, steps), device=device)
    return (level + jitter).clamp(0, groups - 1)


def epsilon_at(cfg: DynamicTrainConfig, progress: float) -> float:
    """Linear decay from ``epsilon_start`` to ``epsilon_end`` over the first 70% of the
    decision-network steps (``progress`` runs 0..1 over all rounds)."""
    frac = min(1.0, progress / 0.7)
    return cfg.epsilon_start + (cfg.epsilon_end - cfg.epsilon_start) * frac


def _full(model: RNPNetwork, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0], model.steps), model.config.groups - 1, device=x.device)


def _mean_groups(actions: torch.Tensor, model: RNPNetwork) -> float:
    return (actions.float().mean().item() + 1) / model.config.groups
