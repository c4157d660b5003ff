"""Dynamic progressive frame pruning for video classification (Rao, Lin, Lu, Zhou 2019).

A TSN-style 2D ResNet over the ``T`` frames of a clip: frames are folded into the batch,
every stage runs per frame (optionally with TSM's temporal shift, Lin et al. 2019, on the
residual branch), and the clip's logits come from the average of its frames' features. A
decision module at the start of every stage after the first looks at the previous stage's
features of each remaining frame (its pooled features next to the mean of its clip's
remaining frames) and keeps or drops it; a dropped frame stays dropped for the rest of the
network (progressive), and a clip keeps at least ``min_frames`` frames.

Dropped frames are really not computed. The frames still alive form one flat batch sorted
by clip and time; after each decision ``route_buckets`` partitions it into kept / dropped
(stable, so the order is kept) and the next stage runs dense on the kept rows only. Clips
that keep different numbers of frames need no padding or per-count regrouping: the frame
is the unit of the batch, the temporal shift reads each frame's kept neighbours by index,
and the temporal average is an ``index_add`` over clips. A route is the ``[N, S]`` number
of frames each clip keeps at each decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.backbones import BackboneConfig, resnet_plan
from nasengine.dynamic.decision import DecisionNetwork
from nasengine.dynamic.frame_ops import FrameBatch, StaticFrames, temporal_shift
from nasengine.dynamic.units import GatedBlock, Stem
from nasengine.utils.validation import boolean, one_of, positive_int

MODES = ("dense", "sample", "greedy")


@dataclass(frozen=True)
class FramesConfig:
    """A frame-pruning video network.

    Attributes:
        backbone: A "resnet" layout; decisions sit before every stage but the first.
        frames: Frames per clip (``T``).
        shift: TSM temporal shift of 1/8 of the channels each way in every block.
        hidden: Width of the decision modules.
        gate_norm: Standardise the pooled features the decisions read.
        min_frames: Frames every clip keeps at least.
    """

    backbone: BackboneConfig = field(default_factory=lambda: BackboneConfig.default("resnet"))
    frames: int = 8
    shift: bool = False
    hidden: int = 16
    gate_norm: bool = True
    min_frames: int = 1

    def __post_init__(self) -> None:
        for name in ("frames", "hidden", "min_frames"):
            positive_int(name, getattr(self, name))
        boolean("shift", self.shift)
        boolean("gate_norm", self.gate_norm)
        if self.backbone.kind != "resnet":
            raise ValueError(f"method 'frames' needs backbone kind 'resnet', got {self.backbone.kind!r}")
        if len(self.backbone.widths) < 2:
            raise ValueError("method 'frames' decides before stages 2..S; the backbone needs at least two stages")
        if self.min_frames > self.frames:
            raise ValueError(f"min_frames {self.min_frames} exceeds frames {self.frames}")

    def to_dict(self) -> dict[str, Any]:
        return {"backbone": self.backbone.to_dict(), "frames": self.frames, "shift": self.shift,
                "hidden": self.hidden, "gate_norm": self.gate_norm, "min_frames": self.min_frames}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FramesConfig:
        return cls(**{**data, "backbone": BackboneConfig.from_dict(data["backbone"])})


@dataclass
class FramesTrace:
    """A forward: logits ``[N, K]``, per-clip sum of the log-probabilities of the sampled
    decisions ``[N]`` (sample mode), route ``[N, S]``, and ``kept`` ``[N, T]``: the frames
    that reached the classifier."""

    logits: torch.Tensor
    log_prob: torch.Tensor | None
    route: torch.Tensor
    kept: torch.Tensor


class FramesNetwork(nn.Module):
    """TSN / TSM ResNet with progressive per-frame keep-or-drop decisions."""

    method = "frames"

    def __init__(self, config: FramesConfig) -> None:
        super().__init__()
        self.config = config
        bb = config.backbone
        self.stem = Stem(bb.in_channels, bb.widths[0], pool=False)
        plan, stages = resnet_plan(bb), []
        for depth in bb.depths:
            stages.append(nn.ModuleList(GatedBlock(spec, (1.0,)) for spec in plan[:depth]))
            plan = plan[depth:]
        self.stages = nn.ModuleList(stages)
        # Frame pooled features and its clip's mean; the bias starts by keeping every frame.
        self.decisions = DecisionNetwork([2 * s[0].spec.in_channels for s in stages[1:]], 1, config.hidden, "none",
                                         head_bias=[2.0], input_norm=config.gate_norm)
        self.classifier = nn.Linear(bb.widths[-1], bb.num_classes)

    @property
    def steps(self) -> int:
        return len(self.stages) - 1

    def full_route(self) -> list[int]:
        return [self.config.frames] * self.steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x, "greedy").logits if self.training else self.execute(x)

    @torch.no_grad()
    def execute(self, x: torch.Tensor, return_route: bool = False) -> Any:
        """Inference on the kept frames only; ``return_route`` adds the ``[N, S]`` route."""
        if x.dim() == 5 and x.shape[0] == 1 and x.shape[1] == self.config.frames:
            logits, route = self._run_clip(x[0])
        else:
            trace = self._run(x, "greedy", fast=True)
            logits, route = trace.logits, trace.route
        return (logits, route) if return_route else logits

    def forward_train(self, x: torch.Tensor, mode: str) -> FramesTrace:
        """"dense" (every frame), "sample" (decisions sampled for REINFORCE) or "greedy"."""
        one_of("mode", mode, MODES)
        return self._run(x, mode, fast=False)

    def _run(self, x: torch.Tensor, mode: str, *, fast: bool) -> FramesTrace:
        if x.dim() != 5 or x.shape[1] != self.config.frames:
            raise ValueError(f"expected clips [N, {self.config.frames}, C, H, W], got shape {tuple(x.shape)}")
        batch = FrameBatch.full(x.shape[0], x.shape[1], x.device)
        h = self.stem.run(x.flatten(0, 1)) if fast else self.stem(x.flatten(0, 1))
        log_prob, counts = x.new_zeros(x.shape[0]), []
        alive = torch.arange(x.shape[0] * x.shape[1], device=x.device)  # flat index of each row
        for s, stage in enumerate(self.stages):
            if s > 0 and mode != "dense":
                keep, logp = self._decide(s - 1, h, batch, mode)
                if logp is not None:
                    log_prob = log_prob.index_add(0, batch.clip, logp)
                rows, batch = batch.select(keep)
                if rows is not None:
                    h, alive = h[rows], alive[rows]
            if s > 0:
                counts.append(batch.counts())
            for block in stage:
                h = self._block(block, h, batch, fast)
        pooled = batch.clip_mean(h.mean((2, 3)))
        route = torch.stack(counts, 1) if counts else torch.zeros(x.shape[0], 0, dtype=torch.long, device=x.device)
        kept = torch.zeros(x.shape[0] * x.shape[1], dtype=torch.bool, device=x.device)
        kept[alive] = True
        return FramesTrace(self.classifier(pooled), log_prob if mode == "sample" else None, route,
                           kept.view(x.shape[0], x.shape[1]))

    def _run_clip(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference on one clip ``[T, C, H, W]``: the same decisions as ``_run``, without
        its per-clip bookkeeping (clip indices, partition, ``index_add``), which costs about
        as much as the late stages at batch 1."""
        batch = FrameBatch.full(1, frames.shape[0], frames.device)
        h, counts = self.stem.run(frames), []
        for s, stage in enumerate(self.stages):
            if s > 0:
                pooled = h.mean((2, 3))
                features = torch.cat((pooled, pooled.mean(0, keepdim=True).expand_as(pooled)), 1)
                out, _ = self.decisions.step(s - 1, features, None, mode="sigmoid")
                keep = out.decision.bool()
                short = self.config.min_frames - int(keep.sum())
                if short > 0:  # the best-scoring dropped frames, as ``FrameBatch.top_up``
                    ranked = torch.argsort(out.scores[:, 0].masked_fill(keep, float("-inf")), descending=True,
                                           stable=True)
                    keep[ranked[:short]] = True
                if not bool(keep.all()):
                    h = h[keep.nonzero().flatten()]
                    batch = FrameBatch.full(1, h.shape[0], h.device)
                counts.append(h.shape[0])
            for block in stage:
                h = self._block(block, h, batch, True)
        route = torch.tensor([counts], dtype=torch.long, device=frames.device).view(1, len(counts))
        return self.classifier(h.mean((2, 3)).mean(0, keepdim=True)), route

    def _block(self, block: GatedBlock, h: torch.Tensor, batch: FrameBatch, fast: bool) -> torch.Tensor:
        body, shortcut = block.bodies[0], block.shortcut
        inner = temporal_shift(h, batch) if self.config.shift else h
        if fast:
            y = body.conv2.run(body.conv1.run(inner), relu=False)
            return F.relu_(y.add_(shortcut.run(h)))
        return F.relu(body.conv2(body.conv1(inner), relu=False) + shortcut(h))

    def _decide(self, step: int, h: torch.Tensor, batch: FrameBatch,
                mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Keep mask of the alive frames and, when sampling, their log-probabilities."""
        pooled = h.mean((2, 3))
        features = torch.cat((pooled, batch.clip_mean(pooled)[batch.clip]), 1)
        out, _ = self.decisions.step(step, features, None, mode="sigmoid")
        score = out.scores[:, 0]
        if mode == "greedy":
            keep = out.decision.bool()
        else:
            keep = torch.bernoulli(torch.sigmoid(score.detach())).bool()
        forced = batch.top_up(keep, score.detach(), self.config.min_frames)
        keep = keep | forced
        if mode != "sample":
            return keep, None
        logp = -F.binary_cross_entropy_with_logits(score, keep.to(score.dtype), reduction="none")
        return keep, logp.masked_fill(forced, 0.0)  # forced frames were not the policy's choice

    def route_summary(self, route: torch.Tensor) -> dict[str, float]:
        """Share of the clip's frames kept after each decision."""
        kept = route.float().mean(0) / self.config.frames
        return {"frames_kept": float(kept[-1]) if len(kept) else 1.0,
                **{f"frames_kept_stage{s + 2}": float(v) for s, v in enumerate(kept)}}

    # ---------------------------------------------------------------- costs and static twins
    def stage_macs(self) -> list[int]:
        """Multiply-adds of each stage for one frame (the stem counted in stage 0)."""
        bb = self.config.backbone
        per = [sum(b.path_macs(0) for b in stage) for stage in self.stages]
        per[0] += self.stem.macs(bb.input_size)
        return per

    def route_macs(self, route: torch.Tensor, *, include_decision: bool = True) -> torch.Tensor:
        """Exact multiply-adds per clip of the given ``[N, S]`` routes."""
        route = route.cpu().long()
        per, t = self.stage_macs(), self.config.frames
        total = torch.full((route.shape[0],), per[0] * t + self.classifier.in_features * self.classifier.out_features)
        alive = torch.full_like(total, t)
        for s in range(self.steps):
            if include_decision:
                total = total + alive * self.decisions.step_macs(s)
            alive = route[:, s]
            total = total + alive * per[s + 1]
        return total

    def dense_macs(self) -> int:
        return int(self.route_macs(torch.tensor([self.full_route()]), include_decision=False)[0])

    def static_network(self, route: Sequence[int], *, fold_bn: bool = True) -> nn.Module:
        """The plain TSN network that runs stage ``s`` on the first ``route[s - 1]`` frames
        (the dense network for ``full_route()``; same MACs as the route, for timing)."""
        if len(route) != self.steps:
            raise ValueError(f"route needs {self.steps} frame counts, got {len(route)}")
        return StaticFrames(self, [int(r) for r in route], fold_bn=fold_bn).eval()
