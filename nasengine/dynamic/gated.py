"""Runtime layer skipping (SkipNet, Wang et al. 2018) and routing (Rao et al. 2019).

A CIFAR-style ResNet whose shape-preserving blocks are gated. Each gated block offers
paths: SkipNet's are "skip" and "execute"; a routing block's are several residual bodies of
different inner widths (width 0 is "skip"). A gate before the block looks at its input and
picks a path per sample: feed-forward gates (pool -> FC -> ReLU -> FC) or one LSTM shared
by every gate. At inference a batch is bucketed by path and skipped bodies never run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.backbones import BackboneConfig, resnet_plan
from nasengine.dynamic.decision import DecisionNetwork
from nasengine.dynamic.execution import collect_route, partition, restore_order
from nasengine.dynamic.units import GatedBlock, Stem
from nasengine.utils.validation import boolean, one_of, positive_int

GATED_METHODS = ("skipnet", "routing")
GATES = ("feedforward", "recurrent")


@dataclass(frozen=True)
class GatedConfig:
    """A gated residual network.

    Attributes:
        backbone: A "resnet" backbone layout.
        method: "skipnet" (execute or skip) or "routing" (pick one of ``branches``).
        gate: "feedforward" (one small MLP per gate) or "recurrent" (a shared LSTM).
        hidden: Width of the gate networks.
        branches: Routing only: inner width of each path as a fraction of the block's
            width; 0 is the skip path.
        gate_norm: Standardise the pooled features each gate reads (``DecisionNetwork``'s
            ``input_norm``); without it the trained gates tend to make the same decision
            for every input.
    """

    backbone: BackboneConfig = field(default_factory=lambda: BackboneConfig.default("resnet"))
    method: str = "skipnet"
    gate: str = "feedforward"
    hidden: int = 16
    branches: tuple[float, ...] = (0.0, 0.5, 1.0)
    gate_norm: bool = True

    def __post_init__(self) -> None:
        one_of("method", self.method, GATED_METHODS)
        one_of("gate", self.gate, GATES)
        positive_int("hidden", self.hidden)
        boolean("gate_norm", self.gate_norm)
        if self.backbone.kind != "resnet":
            raise ValueError(f"method {self.method!r} gates residual blocks; it needs backbone kind 'resnet', "
                             f"got {self.backbone.kind!r}")
        branches = tuple(float(b) for b in self.branches)
        object.__setattr__(self, "branches", branches)
        if len(branches) < 2 or len(set(branches)) != len(branches) or any(not 0 <= b <= 1 for b in branches):
            raise ValueError(f"branches must be at least two distinct fractions in [0, 1], got {list(self.branches)}")

    @property
    def paths(self) -> tuple[float, ...]:
        return (0.0, 1.0) if self.method == "skipnet" else self.branches

    def to_dict(self) -> dict[str, Any]:
        return {"backbone": self.backbone.to_dict(), "method": self.method, "gate": self.gate,
                "hidden": self.hidden, "branches": list(self.branches), "gate_norm": self.gate_norm}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GatedConfig:
        return cls(**{**data, "backbone": BackboneConfig.from_dict(data["backbone"]),
                      "branches": tuple(data.get("branches", (0.0, 0.5, 1.0)))})


@dataclass
class GatedTrace:
    """What a training forward did: logits, per-gate path weights ``[N, P]`` (straight-through
    in the relaxed mode), log-probabilities of sampled paths ``[N, G]``, paths ``[N, G]``."""

    logits: torch.Tensor
    weights: list[torch.Tensor]
    log_probs: torch.Tensor | None
    paths: torch.Tensor


class GatedNetwork(nn.Module):
    """ResNet with gated blocks (SkipNet) or multi-path routed blocks (runtime routing)."""

    def __init__(self, config: GatedConfig) -> None:
        super().__init__()
        self.config = config
        self.method = config.method
        bb, paths = config.backbone, config.paths
        self.stem = Stem(bb.in_channels, bb.widths[0], pool=False)
        gateable = [s.stride == 1 and s.in_channels == s.out_channels for s in resnet_plan(bb)]
        self.blocks = nn.ModuleList(GatedBlock(s, paths if g else (1.0,)) for s, g in zip(resnet_plan(bb), gateable))
        self.gated_blocks = [b for b in self.blocks if b.gated]  # the stem's width makes block 0 gateable
        skipnet = config.method == "skipnet"
        # Gates start by executing everything (SkipNet) / the widest path (routing).
        bias = [1.0] if skipnet else [1.0 if f == max(paths) else 0.0 for f in paths]
        self.gates = DecisionNetwork([b.spec.in_channels for b in self.gated_blocks], 1 if skipnet else len(paths),
                                     config.hidden, "none" if config.gate == "feedforward" else "lstm",
                                     shared_head=True, head_bias=bias, input_norm=config.gate_norm)
        self.inference_mode = "sigmoid" if skipnet else "argmax"
        self.classifier = nn.Linear(bb.widths[-1], bb.num_classes)
        self.stem_size = bb.input_size

    @property
    def steps(self) -> int:
        return len(self.gated_blocks)

    @property
    def num_paths(self) -> int:
        return len(self.config.paths)

    def full_route(self) -> list[int]:
        widest = max(range(self.num_paths), key=lambda r: self.config.paths[r])
        return [widest] * self.steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x, "greedy").logits if self.training else self.execute(x)

    def forward_train(self, x: torch.Tensor, mode: str, *, tau: float = 1.0,
                      route: torch.Tensor | None = None) -> GatedTrace:
        """Dense computation of every path, mixed by the gate weights.

        Args:
            mode: "dense" (widest paths, gates unused), "relaxed" (straight-through gates:
                hard forward, soft gradient), "sample" (paths sampled from the gate
                policy, for REINFORCE), "greedy" (the inference decisions) or "fixed"
                (the paths in ``route``).
            tau: Gumbel temperature of relaxed routing gates.
        """
        one_of("mode", mode, ("dense", "relaxed", "sample", "greedy", "fixed"))
        x = self.stem(x)
        n, state, g = x.shape[0], None, 0
        weights, log_probs, chosen = [], [], []
        if mode not in ("dense", "fixed"):
            state = self.gates.initial_state(n, x)
        for block in self.blocks:
            if not block.gated:
                x = block.train_path(x, 0)
                continue
            w, path, logp, state = self._gate(g, x, state, mode, tau, route)
            weights.append(w)
            chosen.append(path)
            if logp is not None:
                log_probs.append(logp)
            if mode == "relaxed":  # every path runs: the soft gradient needs all of them
                outs = [block.train_path(x, r) for r in range(self.num_paths)]
                x = sum(w[:, r].view(-1, 1, 1, 1) * outs[r] for r in range(self.num_paths))
            else:
                x = self._train_routed(block, x, path)
            g += 1
        logits = self.classifier(x.mean((2, 3)))
        return GatedTrace(logits, weights, torch.stack(log_probs, 1) if log_probs else None, torch.stack(chosen, 1))

    def _train_routed(self, block: GatedBlock, x: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
        """Each path on its own samples only, so BN statistics see what inference sees."""
        out = None
        for r in range(self.num_paths):
            rows = (path == r).nonzero()[:, 0]
            if rows.numel() == x.shape[0]:
                return block.train_path(x, r)
            if rows.numel():
                y = block.train_path(x.index_select(0, rows), r)
                out = (torch.zeros_like(x) if out is None else out).index_copy(0, rows, y)
        return out

    def _gate(self, g: int, x: torch.Tensor, state: torch.Tensor | None, mode: str, tau: float,
              route: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, Any]:
        n, paths, skipnet = x.shape[0], self.num_paths, self.method == "skipnet"
        if mode in ("dense", "fixed"):
            path = torch.full((n,), self.full_route()[g], device=x.device) if mode == "dense" else route[:, g]
            return F.one_hot(path, paths).to(x.dtype), path, None, state
        if mode == "relaxed":
            out, state = self.gates.step(g, x, state, mode="straight_through" if skipnet else "gumbel", tau=tau)
            w = torch.cat((1 - out.probs, out.probs), 1) if skipnet else out.probs
            return w, out.decision, None, state
        out, state = self.gates.step(g, x, state, mode=self.inference_mode)
        if mode == "greedy":
            return F.one_hot(out.decision, paths).to(x.dtype), out.decision, None, state
        if skipnet:
            path = torch.bernoulli(torch.sigmoid(out.scores[:, 0].detach())).long()
            logp = -F.binary_cross_entropy_with_logits(out.scores[:, 0], path.to(out.scores.dtype), reduction="none")
        else:
            path = torch.distributions.Categorical(logits=out.scores.detach()).sample()
            logp = torch.log_softmax(out.scores, 1).gather(1, path[:, None])[:, 0]
        return F.one_hot(path, paths).to(x.dtype), path, logp, state

    @torch.no_grad()
    def execute(self, x: torch.Tensor, return_route: bool = False) -> Any:
        """Inference running only the chosen path of each block; ``return_route`` adds ``[N, G]``."""
        x = self.stem.run(x)
        n = x.shape[0]
        if n == 1:
            return self._execute_one(x, return_route)
        order, state, g, records = None, self.gates.initial_state(n, x), 0, []
        for block in self.blocks:
            if not block.gated:
                x = block.run_path(x, 0)
                continue
            out, state = self.gates.step(g, x, state, mode=self.inference_mode)
            g += 1
            decision = out.decision
            records.append((order, decision))
            buckets, counts = partition(decision, self.num_paths)
            used = [r for r, c in enumerate(counts) if c]
            if len(used) == 1:
                x = block.run_path(x, used[0])
                continue
            xs = x[buckets.perm]  # indexing keeps channels-last; index_select would not
            pieces, offset = [], 0
            for r in used:
                pieces.append(block.run_path(xs.narrow(0, offset, counts[r]), r))
                offset += counts[r]
            x = torch.cat(pieces)
            order = buckets.perm if order is None else order[buckets.perm]
            state = None if state is None else state[buckets.perm]
        logits = restore_order(self.classifier(x.mean((2, 3))), order)
        return (logits, collect_route(records, n)) if return_route else logits

    def _execute_one(self, x: torch.Tensor, return_route: bool) -> Any:
        state, g, route = None, 0, []
        for block in self.blocks:
            path = 0
            if block.gated:
                path, state = self.gates.decide_one(g, x, state, mode=self.inference_mode)
                route.append(path)
                g += 1
            x = block.run_path(x, path)
        logits = self.classifier(x.mean((2, 3)))
        return (logits, torch.tensor([route], dtype=torch.long, device=x.device)) if return_route else logits

    def route_summary(self, route: torch.Tensor) -> dict[str, float]:
        """Share of all blocks skipped and share of samples taking each path."""
        skip = [r for r, f in enumerate(self.config.paths) if f == 0]
        skipped = float((route == skip[0]).float().sum(1).mean()) if skip else 0.0
        usage = {f"path_{f:g}": float((route == r).float().mean()) for r, f in enumerate(self.config.paths)}
        return {"blocks_skipped": skipped / len(self.blocks), **usage}

    # ---------------------------------------------------------------- costs and static twins
    def path_costs(self) -> torch.Tensor:
        """``[G, P]`` multiply-adds of each path of each gated block."""
        return torch.tensor([[b.path_macs(r) for r in range(self.num_paths)] for b in self.gated_blocks])

    def fixed_macs(self, *, include_decision: bool = True) -> int:
        size = self.stem_size
        fixed = self.stem.macs(size) + sum(b.path_macs(0) for b in self.blocks if not b.gated)
        fixed += self.classifier.in_features * self.classifier.out_features
        if include_decision:
            fixed += sum(self.gates.step_macs(t) for t in range(self.steps))
        return fixed

    def route_macs(self, route: torch.Tensor, *, include_decision: bool = True) -> torch.Tensor:
        """Exact multiply-adds per sample of the given ``[N, G]`` paths."""
        route = route.cpu().long()
        costs = self.path_costs()
        gated = costs[torch.arange(self.steps), route].sum(1) if self.steps else torch.zeros(route.shape[0])
        return gated + self.fixed_macs(include_decision=include_decision)

    def dense_macs(self) -> int:
        return int(self.route_macs(torch.tensor([self.full_route()]), include_decision=False)[0])

    def static_network(self, route: Sequence[int], *, fold_bn: bool = True) -> nn.Sequential:
        """The plain network one route executes (skipped blocks are absent)."""
        if len(route) != self.steps:
            raise ValueError(f"route needs {self.steps} paths, got {len(route)}")
        layers, paths = [self.stem.to_static(fold_bn=fold_bn)], iter(route)
        for block in self.blocks:
            layers.append(block.to_static(int(next(paths)) if block.gated else 0, fold_bn=fold_bn))
        head = nn.Linear(self.classifier.in_features, self.classifier.out_features)
        head.load_state_dict(self.classifier.state_dict())
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()
