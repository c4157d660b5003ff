"""Runtime neural pruning (Lin, Rao, Lu, Zhou, NeurIPS 2017).

Every pruned layer splits its channels into ``groups`` nested groups; before layer ``t`` a
decision network reads the pooled feature map and picks how many groups to compute
(action ``a`` keeps groups ``0..a``). Training runs dense convs and masks (``forward_masked``);
inference (``execute``) computes only the kept filters, bucketing a batch by route.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.backbones import BackboneConfig, resnet_plan, vgg_plan
from nasengine.dynamic.decision import DecisionNetwork
from nasengine.dynamic.execution import collect_route, partition, pooled_padded, restore_order, segment_ids
from nasengine.dynamic.units import ResidualUnit, Stem, VGGUnit
from nasengine.utils.validation import one_of, positive_int

RNP_CELLS = ("gru", "none")


@dataclass(frozen=True)
class RNPConfig:
    """Runtime neural pruning network.

    Attributes:
        backbone: The backbone layout.
        groups: Nested channel groups per pruned layer (actions per decision).
        hidden: Width of the decision network.
        cell: "gru" (the paper's recurrent decision network) or "none" (feed-forward).
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    groups: int = 4
    hidden: int = 32
    cell: str = "gru"

    def __post_init__(self) -> None:
        positive_int("groups", self.groups)
        positive_int("hidden", self.hidden)
        one_of("cell", self.cell, RNP_CELLS)
        smallest = min(self.backbone.widths)
        if self.groups > smallest:
            raise ValueError(f"groups {self.groups} exceeds the narrowest stage ({smallest} channels)")

    def to_dict(self) -> dict[str, Any]:
        return {"backbone": self.backbone.to_dict(), "groups": self.groups, "hidden": self.hidden, "cell": self.cell}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RNPConfig:
        return cls(**{**data, "backbone": BackboneConfig.from_dict(data["backbone"])})


@dataclass
class RNPTrace:
    """What a masked forward did: logits, Q-values per step, actions ``[N, steps]``."""

    logits: torch.Tensor
    scores: list[torch.Tensor]
    actions: torch.Tensor


class RNPNetwork(nn.Module):
    """Backbone with nested channel groups plus the decision network that picks them."""

    method = "rnp"

    def __init__(self, config: RNPConfig) -> None:
        super().__init__()
        self.config = config
        bb, k = config.backbone, config.groups
        if bb.kind == "vgg":
            specs = vgg_plan(bb)
            self.stem = Stem(specs[0].in_channels, specs[0].out_channels, specs[0].pool)
            self.units = nn.ModuleList(VGGUnit(s, k) for s in specs[1:])
        else:
            blocks = resnet_plan(bb)
            self.stem = Stem(bb.in_channels, bb.widths[0], pool=False)
            self.units = nn.ModuleList(ResidualUnit(s, k) for s in blocks)
        if not len(self.units):
            raise ValueError("runtime pruning needs at least two conv layers (the first one is never pruned)")
        self.stem_size = bb.input_size
        self.decision = DecisionNetwork([u.spec.in_channels for u in self.units], k, config.hidden, config.cell)
        self.classifier = nn.Linear(bb.widths[-1], bb.num_classes)
        self._build_cost_tables()

    @property
    def steps(self) -> int:
        return len(self.units)

    def full_route(self) -> list[int]:
        return [self.config.groups - 1] * self.steps

    # ---------------------------------------------------------------- training path
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_masked(x).logits if self.training else self.execute(x)

    def forward_masked(self, x: torch.Tensor, *, actions: torch.Tensor | None = None, epsilon: float = 0.0,
                       train_backbone: bool = True, train_decision: bool = False) -> RNPTrace:
        """Dense convs with per-sample channel-prefix masks.

        Args:
            x: Images.
            actions: ``[N, steps]`` actions to force (the decision network is not run).
            epsilon: Probability of replacing a greedy action by a uniformly random one.
            train_backbone: Track gradients through the backbone.
            train_decision: Track gradients through the decision network (its input
                features are always detached).
        """
        with torch.set_grad_enabled(train_backbone and torch.is_grad_enabled()):
            x = self.stem(x)
        n, k = x.shape[0], self.config.groups
        state = self.decision.initial_state(n, x) if actions is None else None
        scores, chosen = [], []
        for t, unit in enumerate(self.units):
            if actions is None:
                with torch.set_grad_enabled(train_decision and torch.is_grad_enabled()):
                    out, state = self.decision.step(t, x.detach().mean((2, 3)), state)
                a = out.decision
                if epsilon > 0:
                    explore = torch.rand(n, device=x.device) < epsilon
                    a = torch.where(explore, torch.randint(0, k, (n,), device=x.device), a)
                scores.append(out.scores)
            else:
                a = actions[:, t]
            chosen.append(a)
            with torch.set_grad_enabled(train_backbone and torch.is_grad_enabled()):
                x = unit.masked(x, a)
        with torch.set_grad_enabled(train_backbone and torch.is_grad_enabled()):
            logits = self.classifier(x.mean((2, 3)))
        return RNPTrace(logits, scores, torch.stack(chosen, 1))

    # ---------------------------------------------------------------- inference path
    @torch.no_grad()
    def execute(self, x: torch.Tensor, return_route: bool = False) -> Any:
        """Inference that computes only the chosen groups; ``return_route`` adds ``[N, steps]``."""
        x = self.stem.run(x)
        if x.shape[0] == 1:
            return self._execute_one(x, return_route)
        n, k = x.shape[0], self.config.groups
        segments, order = [x], None
        state = self.decision.initial_state(n, x)
        records = []
        for t, unit in enumerate(self.units):
            out, state = self.decision.step(t, pooled_padded(segments, unit.spec.in_channels), state)
            actions = out.decision
            records.append((order, actions))
            sizes = [s.shape[0] for s in segments]
            routes = len(sizes) * k
            route_ids = actions if len(sizes) == 1 else actions * len(sizes) + segment_ids(sizes, x.device)
            buckets, counts = partition(route_ids, routes)
            starts = [sum(sizes[:s]) for s in range(len(sizes))]
            grouped: list[tuple[int, list[torch.Tensor]]] = []
            offset = 0
            for r, count in enumerate(counts):
                if not count:
                    continue
                a, s = divmod(r, len(sizes))
                part = segments[s]
                if count != sizes[s]:
                    part = part[buckets.perm[offset: offset + count] - starts[s]]  # keeps channels-last
                y = unit.run(part, a)
                if grouped and grouped[-1][0] == y.shape[1]:
                    grouped[-1][1].append(y)
                else:
                    grouped.append((y.shape[1], [y]))
                offset += count
            segments = [ys[0] if len(ys) == 1 else torch.cat(ys) for _, ys in grouped]
            if sum(1 for c in counts if c) > 1:  # otherwise the partition is the identity
                order = buckets.perm if order is None else order[buckets.perm]
                state = None if state is None else state[buckets.perm]
        logits = torch.cat([self._classify(seg) for seg in segments]) if len(segments) > 1 else self._classify(segments[0])
        logits = restore_order(logits, order)
        return (logits, collect_route(records, n)) if return_route else logits

    def _execute_one(self, x: torch.Tensor, return_route: bool) -> Any:
        state, route = None, []
        for t, unit in enumerate(self.units):
            a, state = self.decision.decide_one(t, x, state)
            route.append(a)
            x = unit.run(x, a)
        logits = self._classify(x)
        return (logits, torch.tensor([route], device=x.device)) if return_route else logits

    def _classify(self, x: torch.Tensor) -> torch.Tensor:
        fc = self.classifier
        return F.linear(x.mean((2, 3)), fc.weight[:, : x.shape[1]], fc.bias)

    def route_summary(self, route: torch.Tensor) -> dict[str, float]:
        """Mean share of the channel groups computed by the pruned layers."""
        return {"groups_computed": float((route.float() + 1).mean() / self.config.groups)}

    # ---------------------------------------------------------------- costs and static twins
    def _build_cost_tables(self) -> None:
        k = self.config.groups
        stem_out = self.stem.layer.out_channels
        self.fixed_macs = self.stem.macs(self.stem_size)
        self.decision_macs = sum(self.decision.step_macs(t) for t in range(self.steps))
        tables, previous = [], (stem_out,)
        for unit in self.units:
            inputs = previous if unit.input_follows_previous else (unit.spec.in_channels,)
            tables.append([[unit.macs(w, a) for a in range(k)] for w in inputs])
            previous = tuple(unit.out_width(a) for a in range(k))
        self.unit_tables = tables
        classes = self.classifier.out_features
        self.classifier_table = [w * classes for w in previous]

    def route_macs(self, route: torch.Tensor, *, include_decision: bool = True) -> torch.Tensor:
        """Exact multiply-adds per sample of the given ``[N, steps]`` routes."""
        route = route.cpu()
        base = self.fixed_macs + (self.decision_macs if include_decision else 0)
        total = torch.full((route.shape[0],), base, dtype=torch.long)
        prev = torch.zeros(route.shape[0], dtype=torch.long)
        for t, unit in enumerate(self.units):
            rows = prev if unit.input_follows_previous else torch.zeros_like(prev)
            total += torch.tensor(self.unit_tables[t], dtype=torch.long)[rows, route[:, t]]
            prev = route[:, t]
        return total + torch.tensor(self.classifier_table, dtype=torch.long)[prev]

    def dense_macs(self) -> int:
        """Multiply-adds of the backbone with every group computed (no decision network)."""
        full = torch.tensor([self.full_route()])
        return int(self.route_macs(full, include_decision=False)[0])

    def static_network(self, route: Sequence[int], *, fold_bn: bool = True) -> nn.Sequential:
        """The plain network that one route executes: ``Conv2d`` layers of the chosen widths."""
        if len(route) != self.steps:
            raise ValueError(f"route needs {self.steps} actions, got {len(route)}")
        layers, width = [self.stem.to_static(fold_bn=fold_bn)], self.stem.layer.out_channels
        for unit, a in zip(self.units, route):
            layers.append(unit.to_static(width, int(a), fold_bn=fold_bn))
            width = unit.out_width(int(a))
        head = nn.Linear(width, self.classifier.out_features)
        with torch.no_grad():
            head.weight.copy_(self.classifier.weight[:, :width])
            head.bias.copy_(self.classifier.bias)
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()
