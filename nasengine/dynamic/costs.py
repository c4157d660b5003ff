"""What a decision costs, for the computation penalty of training.

Per decision step, a table of the cost of each action, scaled so that the dense route
costs 1 in total:

* "groups": the share of the layer's channel groups computed (RNP's original penalty;
  for gates, the share of the paths' MACs);
* "macs": the multiply-adds the action executes;
* "latency": the time the action takes at batch 1, measured on this machine. On CPUs,
  narrow early layers speed up less than their MACs shrink; this penalty steers the
  decisions towards the savings that are real on the hardware at hand.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch
from torch import nn

from nasengine.dynamic.gated import GatedNetwork
from nasengine.dynamic.rnp import RNPNetwork
from nasengine.utils.timing import time_calls
from nasengine.utils.validation import one_of

COSTS = ("groups", "macs", "latency")


def cost_tables(model: nn.Module, kind: str, *, repeats: int = 25) -> list[torch.Tensor]:
    """One float table per decision step: RNP ``[input options, groups]`` (rows follow the
    previous step's action where a layer's input width does), gates ``[1, paths]``."""
    one_of("cost", kind, COSTS)
    if isinstance(model, RNPNetwork):
        tables = _rnp_tables(model, kind, repeats)
    elif isinstance(model, GatedNetwork):
        tables = _gated_tables(model, kind, repeats)
    else:
        raise ValueError(f"no cost tables for {type(model).__name__}")
    full = sum(float(t.max()) for t in tables)
    return [t / full for t in tables]


def route_cost(tables: list[torch.Tensor], route: torch.Tensor, follows: list[bool]) -> torch.Tensor:
    """``[N, steps]`` cost of each step of each route (``follows[t]``: row = previous action)."""
    prev = torch.zeros_like(route[:, 0])
    out = []
    for t, table in enumerate(tables):
        rows = prev if follows[t] else torch.zeros_like(prev)
        out.append(table.to(route.device)[rows, route[:, t]])
        prev = route[:, t]
    return torch.stack(out, 1)


def _rnp_tables(model: RNPNetwork, kind: str, repeats: int) -> list[torch.Tensor]:
    k = model.config.groups
    if kind == "groups":
        return [torch.tensor([[(a + 1) / k for a in range(k)]] * len(rows)) for rows in model.unit_tables]
    if kind == "macs":
        return [torch.tensor(rows, dtype=torch.float64).float() for rows in model.unit_tables]
    tables, in_widths = [], [model.stem.layer.out_channels]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for unit in model.units:
            widths = in_widths if unit.input_follows_previous else [unit.spec.in_channels]
            rows = []
            for w in widths:
                x = torch.randn(1, w, unit.spec.in_size, unit.spec.in_size, device=device)
                rows.append(_median_times([functools.partial(unit.run, x, a) for a in range(k)], repeats, device))
            tables.append(torch.tensor(rows))
            in_widths = [unit.out_width(a) for a in range(k)]
    model.train(was_training)
    return tables


def _gated_tables(model: GatedNetwork, kind: str, repeats: int) -> list[torch.Tensor]:
    if kind in ("groups", "macs"):
        return [row.float()[None] for row in model.path_costs()]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    tables = []
    with torch.inference_mode():
        for block in model.gated_blocks:
            x = torch.randn(1, block.spec.in_channels, block.spec.in_size, block.spec.in_size, device=device)
            paths = [functools.partial(block.run_path, x, r) for r in range(model.num_paths)]
            tables.append(torch.tensor([_median_times(paths, repeats, device)]))
    model.train(was_training)
    return tables


def _median_times(calls: list[Callable[[], object]], repeats: int, device: torch.device) -> list[float]:
    # The actions of one step are timed in the same rounds, so a load change on the
    # machine shifts them alike; one warm-up round also fills the cached weight slices.
    return time_calls(calls, warmup=1, repeats=repeats, device=device)


class CostCache:
    """Cost tables of one model, computed once (latency is measured on first use)."""

    def __init__(self) -> None:
        self._key: tuple[int, str] | None = None
        self._tables: list[torch.Tensor] = []

    def get(self, model: nn.Module, kind: str) -> list[torch.Tensor]:
        if self._key != (id(model), kind):
            self._tables, self._key = cost_tables(model, kind), (id(model), kind)
        return self._tables
