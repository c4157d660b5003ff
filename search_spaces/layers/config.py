"""Configuration of the layer-wise space, its decision names, and the facts of one arch that
the network builder, the cost model and the latency units all read (which sources feed a
layer, how wide every source is)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from nasengine.space import SpaceConfig
from nasengine.utils.validation import one_of, positive_int

#: The six operations of the ENAS macro space, in the released code's branch order.
ENAS_MACRO_OPS: tuple[str, ...] = ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3",
                                   "max_pool_3x3")
#: Zoph & Le's filter heights x widths, one operation each.
ZOPH_LE_OPS: tuple[str, ...] = tuple(f"conv_{h}x{w}" for h in (1, 3, 5, 7) for w in (1, 3, 5, 7))
#: Zoph & Le's numbers of filters.
ZOPH_LE_FILTERS: tuple[int, ...] = (24, 36, 48, 64)

_OP_PATTERN = re.compile(r"^(conv_[1357]x[1357]|sep_conv_(3x3|5x5|7x7)|(max|avg)_pool_3x3)$")


@dataclass(frozen=True)
class LayersConfig(SpaceConfig):
    """A plain stack of searched layers with searched skip connections.

    Attributes:
        layers: L, searched layers after the stem conv.
        ops: Operation names: ``conv_HxW`` (H, W in 1, 3, 5, 7), ``sep_conv_KxK`` (K in 3, 5, 7),
            ``max_pool_3x3``, ``avg_pool_3x3``. Default: the six of ENAS.
        filters: Output channels. One value: fixed (doubled at each reduction when
            ``double_at_reduction``); several: a ``l{i}.filters`` decision per layer.
        combine: How skip inputs join: ``sum`` (ENAS: added to the op output, then BN; needs
            one filter count) or ``concat`` (Zoph & Le: concatenated with the layer input in
            depth, before the op).
        skip_inputs: 0: an on/off decision per earlier source (ENAS, Zoph & Le); k >= 1: k input
            decisions per layer, each picking one source (the layer's own input means none),
            chosen by the RL controller with its anchor attention.
        input_conv: Every op starts with ENAS's 1x1 conv -> BN -> ReLU to ``filters`` channels
            (pooling ops need it: they cannot change the width on their own).
        reduce_after: Layers after which every source is halved by a factorized reduction;
            ``None``: ENAS's rule (after layers L//3 - 1 and 2L//3 - 1) with one filter count,
            none with several.
        double_at_reduction: Filters double at each reduction (ENAS's final networks).
        dropout: Dropout before the classifier.
        stem_width: The stem conv's filters; ``None``: the widest filter count. Another width
            needs ``combine=concat`` and no reductions (a sum and a reduction expect every
            source at the layers' width). Zoph & Le's network has no separate stem: its first
            layer (3x3, 36 filters) is the stem here.
        stem_relu: End the stem with a ReLU like every other layer (Zoph & Le), not with its
            BN alone (ENAS).
    """

    LATER_FIELDS: ClassVar[tuple[str, ...]] = ("stem_width", "stem_relu")

    input_size: int = 32
    num_classes: int = 10
    layers: int = 12
    ops: tuple[str, ...] = ENAS_MACRO_OPS
    filters: tuple[int, ...] = (36,)
    combine: str = "sum"
    skip_inputs: int = 0
    input_conv: bool = True
    reduce_after: tuple[int, ...] | None = None
    double_at_reduction: bool = True
    dropout: float = 0.0
    stem_width: int | None = None
    stem_relu: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("layers", self.layers)
        ops = _tuple("ops", self.ops)
        bad = [op for op in ops if not isinstance(op, str) or not _OP_PATTERN.match(op)]
        if bad:
            raise ValueError(f"ops: unknown operation(s) {bad}; use conv_HxW (H, W in 1,3,5,7), sep_conv_KxK "
                             "(K in 3,5,7), max_pool_3x3, avg_pool_3x3")
        filters = _tuple("filters", self.filters)
        for f in filters:
            positive_int("filters", f)
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "filters", filters)
        one_of("combine", self.combine, ("sum", "concat"))
        one_of("input_conv", self.input_conv, (True, False))
        one_of("double_at_reduction", self.double_at_reduction, (True, False))
        if isinstance(self.skip_inputs, bool) or not isinstance(self.skip_inputs, int) or self.skip_inputs < 0:
            raise ValueError(f"skip_inputs must be an integer >= 0, got {self.skip_inputs!r}")
        if not self.input_conv and any("pool" in op for op in ops):
            raise ValueError("pooling ops need input_conv=true (a pool cannot change the channel count)")
        if self.combine == "sum" and len(filters) > 1:
            raise ValueError(f"combine=sum adds layers together, so it needs one filter count, got {list(filters)}")
        if self.reduce_after is not None:
            points = _tuple("reduce_after", self.reduce_after, allow_empty=True)
            if any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < self.layers - 1 for p in points) \
                    or list(points) != sorted(set(points)):
                raise ValueError(f"reduce_after must list increasing layer indices in 0..{self.layers - 2}, "
                                 f"got {list(points)}")
            object.__setattr__(self, "reduce_after", points)
        if len(filters) > 1 and self.reductions:
            raise ValueError("searched filters need reduce_after=[] (a reduction maps every source to one width)")
        if self.input_size >> len(self.reductions) < 1:
            raise ValueError(f"input_size {self.input_size} is too small for {len(self.reductions)} reductions")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        one_of("stem_relu", self.stem_relu, (True, False))
        if self.stem_width is not None:
            positive_int("stem_width", self.stem_width)
            if self.combine != "concat" or self.reductions:
                raise ValueError(f"stem_width {self.stem_width} needs combine=concat and reduce_after=[] (a sum and a "
                                 "reduction expect every source at the layers' width)")

    @property
    def reductions(self) -> tuple[int, ...]:
        if self.reduce_after is not None:
            return self.reduce_after
        if len(self.filters) > 1:
            return ()
        step = self.layers // 3
        return tuple(p for p in (step - 1, 2 * step - 1) if 0 <= p < self.layers - 1)

    @property
    def stem_filters(self) -> int:
        """The stem conv's width: ``stem_width``, else the widest filter count (the first
        stage's with one)."""
        return max(self.filters) if self.stem_width is None else self.stem_width

    def stage(self, layer: int) -> int:
        """Reductions before ``layer``."""
        return sum(1 for p in self.reductions if p < layer)

    def stage_filters(self, stage: int) -> int:
        """The width of every source in ``stage`` (one filter count only)."""
        return self.filters[0] * (2**stage if self.double_at_reduction else 1)

    def size(self, stage: int) -> int:
        size = self.input_size
        for _ in range(stage):
            size = (size + 1) // 2
        return size


def _tuple(field: str, value: Any, *, allow_empty: bool = False) -> tuple:
    if not isinstance(value, (tuple, list)) or (not value and not allow_empty):
        raise ValueError(f"{field} must be a non-empty list, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{field} has repeated values: {list(value)}")
    return tuple(value)


# --- decision names --------------------------------------------------------------------
def op_name(layer: int) -> str:
    return f"l{layer}.op"


def filters_name(layer: int) -> str:
    return f"l{layer}.filters"


def skip_name(layer: int, source: int) -> str:
    """On/off decision: does source ``source`` (0 = stem, ``s`` = layer ``s - 1``) feed ``layer``."""
    return f"l{layer}.skip{source}"


def input_name(layer: int, k: int) -> str:
    return f"l{layer}.in{k}"


# --- facts of one arch -------------------------------------------------------------------
def skip_sources(cfg: LayersConfig, choices: Mapping[str, Any], layer: int) -> list[int]:
    """Sources that feed ``layer`` besides its input (source ``layer``), in increasing order."""
    if cfg.skip_inputs == 0:
        return [s for s in range(layer) if choices[skip_name(layer, s)] == 1]
    if layer == 0:
        return []
    return sorted({choices[input_name(layer, k)] for k in range(cfg.skip_inputs)} - {layer})


def layer_filters(cfg: LayersConfig, choices: Mapping[str, Any], layer: int) -> int:
    if len(cfg.filters) > 1:
        return int(choices[filters_name(layer)])
    return cfg.stage_filters(cfg.stage(layer))


def source_widths(cfg: LayersConfig, choices: Mapping[str, Any]) -> list[int]:
    """Output channels of every source, stem first, before any reduction widens them."""
    return [cfg.stem_filters] + [layer_filters(cfg, choices, i) for i in range(cfg.layers)]


def op_input_width(cfg: LayersConfig, choices: Mapping[str, Any], layer: int) -> int:
    """Channels the op of ``layer`` reads: its input, plus the skips when they concatenate.

    With one filter count every source a layer reads is ``stage_filters`` wide (reductions
    map all of them to the new width); with several there are no reductions.
    """
    skips = skip_sources(cfg, choices, layer) if cfg.combine == "concat" else []
    if len(cfg.filters) == 1:
        return cfg.stage_filters(cfg.stage(layer)) * (1 + len(skips))
    widths = source_widths(cfg, choices)
    return widths[layer] + sum(widths[s] for s in skips)


def max_skips(cfg: LayersConfig, layer: int) -> int:
    """The most skip sources ``layer`` can have."""
    return layer if cfg.skip_inputs == 0 else min(cfg.skip_inputs, layer)


def reduced_sources(cfg: LayersConfig, choices: Mapping[str, Any], after: int) -> list[int]:
    """Sources the reduction after layer ``after`` must halve: those a later layer reads (as
    its input or a skip). The others are never read again, so no network computes them."""
    read = {after + 1}
    for j in range(after + 1, cfg.layers):
        read.update(s for s in skip_sources(cfg, choices, j) if s <= after + 1)
    return sorted(read)


def max_reduced_sources(cfg: LayersConfig, after: int) -> int:
    """The most sources the reduction after layer ``after`` can halve (an upper bound when
    skips are input decisions: their slots may not cover every source at once)."""
    slots = sum(max_skips(cfg, j) for j in range(after + 1, cfg.layers))
    return 1 + min(after + 1, slots)
