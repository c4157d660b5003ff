"""NASNet search space (Zoph, Vasudevan, Shlens, Le, "Learning Transferable Architectures for
Scalable Image Recognition", CVPR 2018); the ENAS micro space is ``ops=ENAS_OPS``.

A cell has B blocks. Block ``j`` picks two inputs among the states ``0..j+1`` (state 0 is
the previous cell's output, state 1 the one before it, state ``i + 2`` block ``i``'s output),
an operation for each, and, when ``combiners`` holds both, how to combine them (the paper's
step 5). The network repeats one normal and one reduction cell. Decisions, in the paper's
order, per kind (``normal`` first, then ``reduction``):

* ``{kind}.b{j}.in0``, ``{kind}.b{j}.in1``: input states, options ``0..j+1`` (kind ``input``);
* ``{kind}.b{j}.op0``, ``{kind}.b{j}.op1``: operations from ``ops``;
* ``{kind}.b{j}.comb``: ``add`` / ``concat``, only when both are configured;
* ``{kind}.out{s}`` for ``s = 0..B`` (with ``output_choices``): ``if_unused`` / ``always``.

Cell output. The paper concatenates "all unused hidden states", but the released NASNet-A
hard-codes the list (slim ``used_hiddenstates``): its normal cell concatenates state 1 (used
by blocks) with the five blocks (6F), its reduction cell blocks 1..4 although block 1 feeds
block 3 (4F). So the paper's rule alone cannot express NASNet-A. Here a state is in the
output when no block reads it (the paper's rule: nothing is left dangling) or when its output
decision says ``always``; option 0, ``if_unused``, is exactly the paper's rule, and
``output_choices=False`` removes the decisions (ENAS style). The last block is never read,
so it has no decision. Every arch is valid: no rejection sampling.

Combiner. ``concat`` makes a block output 2F wide; ops reading it map 2F -> F (identity and
pooling through a 1x1 conv, as slim does on any width change). Cell inputs that enter the
output are matched to F channels at the output resolution by slim's factorized reduction;
block outputs keep their width. Off by default (NASNet-A adds everywhere).

Costs are exact and come from lookup tables (``costs.py``); ``network()`` is the
weight-sharing supernet (``ChoiceOp``/``InputChoice``; preprocessing convs and the classifier
are elastic in their input width because the previous cell's width depends on the arch).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nasengine.arch import Arch, Decision
from nasengine.cost import Cost
from nasengine.nn import inherit_weights
from nasengine.space import LatencyUnit, PresetNetwork, SearchSpace

from .cell import OUTPUT_OPTIONS
from .config import NasCellConfig, comb_name, in_name, op_name, out_name
from .costs import CostModel
from .network import build_network, make_plan
from .presets import CELLS, NETWORKS, cell_choices


class NasCellSpace(SearchSpace):
    """The NASNet cell search space; see the module docstring for decisions and rules."""

    name = "nas_cell"
    config_class = NasCellConfig
    config: NasCellConfig

    def __init__(self, config: NasCellConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._plan = make_plan(self.config)
        self._decisions: tuple[Decision, ...] | None = None
        self._costs: CostModel | None = None

    def decisions(self) -> tuple[Decision, ...]:
        if self._decisions is None:
            cfg, out = self.config, []
            for kind in cfg.arch_kinds:
                for j in range(cfg.blocks):
                    out += [Decision(in_name(kind, j, s), tuple(range(j + 2)), "input") for s in (0, 1)]
                    out += [Decision(op_name(kind, j, s), cfg.ops, "op") for s in (0, 1)]
                    if len(cfg.combiners) > 1:
                        out.append(Decision(comb_name(kind, j), cfg.combiners, "op"))
                if cfg.output_choices:
                    out += [Decision(out_name(kind, s), OUTPUT_OPTIONS, "op") for s in range(cfg.blocks + 1)]
            self._decisions = tuple(out)
        return self._decisions

    def _cost_model(self) -> CostModel:
        if self._costs is None:
            self._costs = CostModel(self.config, self._plan)
        return self._costs

    def cost(self, arch: Arch) -> Cost:
        return self._cost_model().cost(getattr(arch, "choices", arch))

    def cost_bounds(self) -> tuple[Cost, Cost]:
        return self._cost_model().bounds()

    def network(self) -> nn.Module:
        return build_network(self.config, self._plan, None)

    def build(self, arch: Arch, *, from_supernet: nn.Module | None = None) -> nn.Module:
        arch = self.arch(arch)
        model = build_network(self.config, self._plan, arch.choices)
        if from_supernet is not None:
            inherit_weights(model, from_supernet)
        return model

    def latency_units(self, arch: Arch | None = None) -> list[LatencyUnit]:
        """Stem (fixed), per cell its preprocessing, block ops and output reductions, head."""
        from .latency import arch_units

        return arch_units(self, arch)

    def presets(self) -> dict[str, Arch]:
        """The published cells (``presets.CELLS``) this config can express, in its macro structure."""
        out = {}
        for name, cells in CELLS.items():
            choices = cell_choices(self.config, cells)
            if choices is not None:
                out[name] = self.arch(choices)
        return out

    @classmethod
    def preset_networks(cls) -> dict[str, PresetNetwork]:
        """Published networks with their whole configs (``presets.NETWORKS``)."""
        return dict(NETWORKS)
