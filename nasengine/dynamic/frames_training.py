"""Training of frame pruning: dense pre-training, then REINFORCE with a computation reward.

1. Pre-train the TSN / TSM backbone on every frame.
2. REINFORCE: keep / drop decisions sampled per frame at every decision module; the
   backbone learns from ``L_cls`` on the frames it was given, the decision modules from the
   clip's return ``-alpha * L_cls - penalty * (MACs / dense MACs)`` with the batch mean as
   baseline (as SkipNet's REINFORCE phase, ``gated_training``, with the clip as the sample).
3. Fine-tune the backbone under the greedy (inference) decisions, decisions fixed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.frames import FramesNetwork
from nasengine.dynamic.trainer import DynamicTrainConfig, Epoch

#: Training mode of each phase.
PHASE_MODES = {"pretrain": "dense", "policy": "sample", "finetune": "greedy"}


class FramesRecipe:
    """Phases and steps of frame-pruning training (see the module docstring)."""

    default_lr = 0.05

    def phases(self, cfg: DynamicTrainConfig) -> list[tuple[str, int]]:
        phases = [("pretrain", cfg.epochs), ("policy", cfg.policy_epochs), ("finetune", cfg.finetune_epochs)]
        return [(name, n) for name, n in phases if n > 0]

    def optimized(self, model: FramesNetwork, phase: str) -> list[tuple[nn.Module, str]]:
        backbone = nn.ModuleList([model.stem, model.stages, model.classifier])
        if phase == "policy":
            return [(backbone, "backbone"), (model.decisions, "policy")]
        return [(backbone, "backbone")]

    def step(self, model: FramesNetwork, epoch: Epoch, x: torch.Tensor, y: torch.Tensor, cfg: DynamicTrainConfig,
             progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        model.train()
        trace = model.forward_train(x, PHASE_MODES[epoch.phase])
        if epoch.phase != "policy":
            return F.cross_entropy(trace.logits, y, label_smoothing=cfg.label_smoothing), {}
        ce = F.cross_entropy(trace.logits, y, reduction="none")
        cost = (model.route_macs(trace.route) / model.dense_macs()).to(x.device, x.dtype)
        with torch.no_grad():
            returns = -cfg.alpha * ce - cfg.penalty * cost
            advantage = returns - returns.mean()
        policy_loss = -(trace.log_prob * advantage).mean()
        kept = trace.route[:, -1].float().mean().item() / model.config.frames
        return ce.mean() + policy_loss, {"ce": ce.mean().item(), "cost": cost.mean().item(), "frames_kept": kept}
