"""MetaPruning-style channel-width search space (Liu et al., ICCV 2019, arXiv 1903.10258)."""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping

from torch import nn

from nasengine.arch import Arch, Decision
from nasengine.cost import Cost
from nasengine.nn import inherit_weights
from nasengine.space import LatencyUnit, SearchSpace
from search_spaces.channel_width import latency, mobilenet_v2, resnet
from search_spaces.channel_width.common import CLASSES, INPUT, Resolver, Term, Width, init_weights
from search_spaces.channel_width.config import METAPRUNING_WIDTHS, ChannelWidthConfig

#: MetaPruning-0.5x ResNet-50 (1.0G FLOPs, 73.4% top-1 in the paper's Table and the README
#: of megvii-model/MetaPruning): indices into ``METAPRUNING_WIDTHS`` from the official
#: evaluation net (resnet/evaluating/resnet.py). Order: stem, layer1..3 outputs (layer4 stays
#: at 2048), then the 16 blocks' mid widths.
_METAPRUNING_RESNET50_05X = (19, 9, 15, 13, 10, 9, 10, 6, 9, 13, 11, 12, 7, 18, 7, 13, 12, 10, 19, 18)


class ChannelWidthSpace(SearchSpace):
    """Per-layer channel widths of a fixed backbone, as searched by MetaPruning.

    Every decision (kind ``"width"``) picks a multiplier of one standard width from
    ``config.widths``; ``config.channels`` turns it into channels. Widths joined by a
    residual add must be equal, so as in MetaPruning each stage has one output width shared
    by its blocks, and each block has its own inner width:

    * ``mobilenet_v2``: ``stem``, ``stage{1..7}_out``, ``block{2..17}_hidden`` (expanded
      width of each inverted residual; block 1 has none), ``last`` (the 1280-wide conv).
    * ``resnet50`` / ``small``: ``stem``, ``layer{s}_out``, ``layer{s}_{j}_mid`` (conv1 and
      conv2 outputs of block ``j``).

    With every width 1.0 the network is torchvision's ``mobilenet_v2()`` / ``resnet50()``:
    same MACs, parameters and ``state_dict`` keys and shapes (torchvision weights load).

    ``network()`` allocates every layer at its widest option (``ElasticConv2d`` slices the
    leading ``weight[:out, :in]``); ``build(arch)`` allocates the chosen widths in the same
    module tree. Cost is a sum of per-layer tables indexed by the option indices of a layer's
    input and output widths (every term is a product of channel counts with non-negative
    coefficients, so the extremes of the space are its narrowest and widest networks).
    """

    name = "channel_width"
    config_class = ChannelWidthConfig
    config: ChannelWidthConfig

    def __init__(self, config: ChannelWidthConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        kernel_slots: list[str] = []
        if c.backbone == "mobilenet_v2":
            self._slots, self._blocks = mobilenet_v2.layout(search_last=c.search_last)
        else:
            bottleneck = c.backbone == "resnet50"
            stages = resnet.RESNET50_STAGES if bottleneck else resnet.small_stages(c.stage_widths, c.stage_repeats)
            self._slots, self._blocks, kernel_slots = resnet.layout(
                stem=64 if bottleneck else c.stem_width, stages=stages, search_last=c.search_last,
                search_kernels=bool(c.kernels), bottleneck=bottleneck)
        searched = [s for s in self._slots if s.searched]
        self._decisions = tuple(Decision(s.name, c.widths, kind="width") for s in searched)
        self._decisions += tuple(Decision(k, c.kernels, kind="kernel") for k in kernel_slots)
        # Per option index: channels of every searched slot, sizes of every kernel slot.
        self._channels = {s.name: [c.channels(s.base, w) for w in c.widths] for s in searched}
        self._kernels = {k: list(c.kernels) for k in kernel_slots}
        # What each decision multiplies a cost term by: channels, or k * k.
        self._factors = {**self._channels, **{k: [n * n for n in c.kernels] for k in kernel_slots}}
        self._fixed = {s.name: s.base for s in self._slots if not s.searched}
        self._fixed.update({INPUT: c.in_channels, CLASSES: c.num_classes})
        self._option_index = {d.name: {v: i for i, v in enumerate(d.options)} for d in self._decisions}
        self._tables: tuple[Any, ...] | None = None

    # --- decisions and cost ---------------------------------------------------------------
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    def cost(self, arch: Arch | Mapping[str, Any]) -> Cost:
        choices = getattr(arch, "choices", arch)
        try:
            indices = [self._option_index[d.name][choices[d.name]] for d in self._decisions]
        except (KeyError, TypeError):
            self.arch(choices)  # raises an ArchError naming the bad decision
            raise
        return self._cost_at(indices)

    def cost_bounds(self) -> tuple[Cost, Cost]:
        # Cost grows with every channel count and kernel size, so the extremes take the
        # smallest / largest factor in every decision (not necessarily the first / last option).
        factors = [self._factors[d.name] for d in self._decisions]
        low = [min(range(len(f)), key=f.__getitem__) for f in factors]
        high = [max(range(len(f)), key=f.__getitem__) for f in factors]
        return self._cost_at(low), self._cost_at(high)

    def _cost_at(self, idx: list[int]) -> Cost:
        if self._tables is None:
            self._tables = self._build_tables()
        macs, params, tables = self._tables
        for key, sizes, tm, tp in tables:
            flat = 0
            for i, n in zip(key, sizes):
                flat = flat * n + idx[i]
            macs += tm[flat]
            params += tp[flat]
        return Cost(macs, params)

    def _terms(self) -> list[Term]:
        size = self.config.input_size
        if self.config.backbone == "mobilenet_v2":
            return mobilenet_v2.terms(self._blocks, size)
        return resnet.terms(self._blocks, size, bottleneck=self.config.backbone == "resnet50")

    def _build_tables(self) -> tuple[Any, ...]:
        """Fold every term into a constant or a (flattened) table over the options of the
        decisions it depends on (one or two widths, and a kernel)."""
        pos = {d.name: i for i, d in enumerate(self._decisions)}
        const = [0, 0]
        tables: dict[tuple[int, ...], list[list[int]]] = {}
        for term in self._terms():
            scale = math.prod(self._fixed[s] for s in term.slots if s not in pos)
            varying = [s for s in term.slots if s in pos]
            key = tuple(sorted({pos[s] for s in varying}))
            if not key:
                const[0] += scale * term.macs
                const[1] += scale * term.params
                continue
            sizes = [len(self._decisions[i].options) for i in key]
            table = tables.setdefault(key, [[0] * math.prod(sizes), [0] * math.prod(sizes)])
            for flat, combo in enumerate(itertools.product(*(range(n) for n in sizes))):
                option = dict(zip(key, combo))
                value = scale * math.prod(self._factors[s][option[pos[s]]] for s in varying)
                table[0][flat] += value * term.macs
                table[1][flat] += value * term.params
        rows = [(key, [len(self._decisions[i].options) for i in key], tm, tp) for key, (tm, tp) in tables.items()]
        return const[0], const[1], rows

    # --- networks ---------------------------------------------------------------------------
    def network(self) -> nn.Module:
        model = self._make(self._resolver(None))
        init_weights(model)
        return model

    def build(self, arch: Arch, *, from_supernet: nn.Module | None = None) -> nn.Module:
        arch = self.arch(getattr(arch, "choices", arch))
        model = self._make(self._resolver(self._picked(arch)))
        init_weights(model)
        if from_supernet is not None:
            inherit_weights(model, from_supernet)
        return model

    def _picked(self, arch: Arch) -> dict[str, int]:
        return {k: self._option_index[k][v] for k, v in arch.choices.items()}

    def _resolver(self, picked: Mapping[str, int] | None) -> Resolver:
        sizes = {**self._channels, **self._kernels}
        options = {d.name: d.options for d in self._decisions}

        def width(slot: str) -> Width:
            if slot in self._fixed:
                return Width(self._fixed[slot])
            values = sizes[slot]
            if picked is None:  # supernet: allocate the largest option, know them all
                return Width(max(values), slot, dict(zip(options[slot], values)))
            i = picked[slot]
            return Width(values[i], slot, {options[slot][i]: values[i]})

        return width

    def _make(self, width: Resolver) -> nn.Module:
        if self.config.backbone == "mobilenet_v2":
            return mobilenet_v2.MobileNetV2Net(self._blocks, width)
        return resnet.ResNetNet(self._blocks, width, bottleneck=self.config.backbone == "resnet50")

    # --- latency ----------------------------------------------------------------------------
    def latency_units(self, arch: Arch | None = None) -> list[LatencyUnit]:
        """Each layer keyed by its (input, output) channels, kernel, stride and resolution."""
        picked = None if arch is None else self._picked(self.arch(arch))
        n_options = {d.name: len(d.options) for d in self._decisions}
        return latency.latency_units(self._latency_layers(), self._resolver, n_options, picked)

    def _latency_layers(self) -> list[latency.Layer]:
        size = self.config.input_size
        if self.config.backbone == "mobilenet_v2":
            return latency.mobilenet_v2_layers(self._blocks, size)
        return latency.resnet_layers(self._blocks, size, bottleneck=self.config.backbone == "resnet50")

    # --- presets ----------------------------------------------------------------------------
    def presets(self) -> dict[str, Arch]:
        """``mobilenet_v2`` / ``resnet50``: the standard networks (every width 1.0), and
        ``metapruning_resnet50_0.5x`` where the config has MetaPruning's widths and rounding
        (``widths`` containing its values, ``rounding="floor"``)."""
        c = self.config
        out: dict[str, Arch] = {}
        if c.backbone in ("mobilenet_v2", "resnet50"):
            out[c.backbone] = self.arch({d.name: 1.0 for d in self._decisions})
        metapruning = self._metapruning_resnet50()
        if c.backbone == "resnet50" and c.rounding == "floor" and set(metapruning.values()) <= set(c.widths):
            names = {d.name for d in self._decisions}  # layer4_out is fixed without search_last
            out["metapruning_resnet50_0.5x"] = self.arch({k: v for k, v in metapruning.items() if k in names})
        return out

    def _metapruning_resnet50(self) -> dict[str, float]:
        ids = _METAPRUNING_RESNET50_05X
        names = ["stem", "layer1_out", "layer2_out", "layer3_out"]
        names += [f"layer{s}_{j}_mid" for s, n in enumerate((3, 4, 6, 3), 1) for j in range(n)]
        choices = {name: METAPRUNING_WIDTHS[i] for name, i in zip(names, ids)}
        choices["layer4_out"] = 1.0
        return choices
