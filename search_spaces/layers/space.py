"""Layer-wise ("macro") search space: Zoph & Le, "Neural Architecture Search with
Reinforcement Learning" (ICLR 2017), and the ENAS macro space (Pham et al., "Efficient Neural
Architecture Search via Parameter Sharing", ICML 2018).

A stem conv, then L layers. Layer ``i`` reads the previous layer (source ``i``; source 0 is
the stem) and may read earlier sources through skip connections. Decisions, layer by layer
(the order in which both papers' controllers emit them):

* ``l{i}.op``: the operation, from ``ops`` (Zoph & Le's filter height x width is one
  ``conv_HxW`` op; ENAS's six ops by default);
* ``l{i}.filters``: the number of filters, only when ``filters`` lists several (kind ``width``);
* skips: ``l{i}.skip{s}`` on/off (``0``/``1``) for every earlier source ``s < i`` (ENAS,
  Zoph & Le; kind ``skip``), or with ``skip_inputs=k`` k input decisions ``l{i}.in{j}`` over
  sources ``0..i`` (kind ``input``: the RL controller picks them with its anchor attention,
  one anchor per layer; picking ``i``, the layer's own input, means no skip).

``combine=sum`` adds the skips to the op's output and applies BN (ENAS's search-time layer);
``combine=concat`` concatenates them with the input before the op (Zoph & Le). At the
reduction points every source is halved by a factorized reduction (ENAS); filters double
there with ``double_at_reduction``. Every combination is valid.

Costs are exact (``costs.py``); ``network()`` is the weight-sharing supernet (ENAS: one set of
weights per layer and op, skips selected by ``InputChoice`` modules, widths sliced).
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from nasengine.arch import Arch, Decision
from nasengine.cost import Cost
from nasengine.nn import inherit_weights
from nasengine.space import LatencyUnit, PresetNetwork, SearchSpace

from .config import LayersConfig, filters_name, input_name, op_name, skip_name
from .costs import CostModel
from .latency import latency_units
from .network import build_network
from .presets import NETWORKS, enas_macro_layers, preset_choices


class LayersSpace(SearchSpace):
    """The layer-wise search space; see the module docstring for decisions and rules."""

    name = "layers"
    config_class = LayersConfig
    config: LayersConfig

    def __init__(self, config: LayersConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._decisions: tuple[Decision, ...] | None = None
        self._costs = CostModel(self.config)  # a stem and a few reductions on the meta device: cheap

    def decisions(self) -> tuple[Decision, ...]:
        if self._decisions is None:
            cfg, out = self.config, []
            for i in range(cfg.layers):
                out.append(Decision(op_name(i), cfg.ops, "op"))
                if len(cfg.filters) > 1:
                    out.append(Decision(filters_name(i), cfg.filters, "width"))
                if cfg.skip_inputs == 0:
                    out += [Decision(skip_name(i, s), (0, 1), "skip") for s in range(i)]
                elif i > 0:
                    out += [Decision(input_name(i, k), tuple(range(i + 1)), "input") for k in range(cfg.skip_inputs)]
            self._decisions = tuple(out)
        return self._decisions

    def cost(self, arch: Arch | Mapping[str, Any]) -> Cost:
        return self._costs.cost(_choices(arch))

    def cost_bounds(self) -> tuple[Cost, Cost]:
        return self._costs.bounds()

    def network(self) -> nn.Module:
        return build_network(self.config, None)

    def build(self, arch: Arch | Mapping[str, Any], *, from_supernet: nn.Module | None = None) -> nn.Module:
        model = build_network(self.config, self.arch(_choices(arch)).choices)
        return model if from_supernet is None else inherit_weights(model, from_supernet)

    def latency_units(self, arch: Arch | None = None) -> list[LatencyUnit]:
        """The stem, the reductions of the sources still read, every layer's op at its widths, the head."""
        return latency_units(self.config, None if arch is None else self.arch(_choices(arch)).choices)

    def presets(self) -> dict[str, Arch]:
        """The published architectures this config can express (``presets.preset_choices``):
        ``enas_macro`` (24 layers, ENAS's conv ops, on/off skips, ``combine=sum``) and
        ``zoph_le_15`` (14 layers after a 36-filter ReLU stem, Zoph & Le's ops and filters,
        on/off concatenated skips, no input conv, no reductions)."""
        return {name: self.arch(choices) for name, choices in preset_choices(self.config).items()}

    @classmethod
    def preset_networks(cls) -> dict[str, PresetNetwork]:
        """Published networks with their whole configs (``presets.NETWORKS``)."""
        return dict(NETWORKS)


def _choices(arch: Arch | Mapping[str, Any]) -> Mapping[str, Any]:
    return arch.choices if isinstance(arch, Arch) else arch


__all__ = ["LayersSpace", "enas_macro_layers"]
