"""Hybrid training of SkipNet and runtime routing (SkipNet's HRL+SP).

1. Pre-train the backbone with every block executed (widest paths).
2. Supervised pre-training with relaxed gates: straight-through sigmoid gates (SkipNet) or
   straight-through Gumbel-softmax routers, loss ``L_cls + penalty * cost``, where cost is
   the executed fraction of the gated blocks' MACs and the penalty ramps up from 0 over the
   phase.
3. REINFORCE: paths sampled from the gate policy; the backbone learns from ``L_cls`` on the
   sampled paths, the gates from the return ``-alpha * L_cls - penalty * (cost still to
   come)`` with the batch mean as baseline.
4. Fine-tune the backbone under the greedy (inference) decisions, gates fixed: REINFORCE
   trained it on sampled routes, inference runs the thresholded ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.costs import CostCache
from nasengine.dynamic.gated import GatedNetwork
from nasengine.dynamic.trainer import DynamicTrainConfig, Epoch


class GatedRecipe:
    """Phases and steps of SkipNet / routing training (see the module docstring)."""

    default_lr = 0.05

    def __init__(self) -> None:
        self.costs = CostCache()

    def phases(self, cfg: DynamicTrainConfig) -> list[tuple[str, int]]:
        phases = [("pretrain", cfg.epochs), ("relaxed", cfg.relaxed_epochs), ("policy", cfg.policy_epochs),
                  ("finetune", cfg.finetune_epochs)]
        return [(name, n) for name, n in phases if n > 0]

    def optimized(self, model: GatedNetwork, phase: str) -> list[tuple[nn.Module, str]]:
        backbone = nn.ModuleList([model.stem, model.blocks, model.classifier])
        if phase in ("pretrain", "finetune"):
            return [(backbone, "backbone")]
        return [(backbone, "backbone"), (model.gates, "policy")]

    def step(self, model: GatedNetwork, epoch: Epoch, x: torch.Tensor, y: torch.Tensor, cfg: DynamicTrainConfig,
             progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        model.train()
        phase = epoch.phase
        mode = {"pretrain": "dense", "relaxed": "relaxed", "policy": "sample", "finetune": "greedy"}[phase]
        trace = model.forward_train(x, mode, tau=cfg.tau)
        if phase in ("pretrain", "finetune"):
            return F.cross_entropy(trace.logits, y, label_smoothing=cfg.label_smoothing), {}
        # [G, P] cost of each path (the dense route costs 1); [N, G] cost of the path each
        # sample takes at each gate (soft gradient when relaxed)
        costs = torch.cat(self.costs.get(model, cfg.cost)).to(x.device)
        step_cost = torch.stack([w @ costs[g] for g, w in enumerate(trace.weights)], 1)
        executed = step_cost.sum(1).mean().item()
        if phase == "relaxed":
            # The penalty ramps up over the phase: at full strength from the first step, the
            # gates close before the backbone has learnt to work without those blocks.
            ce = F.cross_entropy(trace.logits, y, label_smoothing=cfg.label_smoothing)
            return ce + cfg.penalty * progress * step_cost.sum(1).mean(), {"ce": ce.item(), "cost": executed}
        ce = F.cross_entropy(trace.logits, y, reduction="none")
        with torch.no_grad():
            # Return after gate g: the computation still to be paid, then the final loss.
            to_come = step_cost.flip(1).cumsum(1).flip(1)
            returns = -cfg.penalty * to_come - cfg.alpha * ce[:, None]
            advantage = returns - returns.mean(0, keepdim=True)
        policy_loss = -(trace.log_probs * advantage).sum(1).mean()
        return ce.mean() + policy_loss, {"ce": ce.mean().item(), "cost": executed}
