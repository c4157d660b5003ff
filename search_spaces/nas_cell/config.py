"""Configuration of the NASNet cell space, its decision names, and the arch facts that the
network builder and the cost model both read (which states a cell outputs, their widths)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from nasengine.space import SpaceConfig
from nasengine.utils.validation import one_of, positive_int

from .cell import OUTPUT_OPTIONS
from .ops import ALL_OPS, OPS

KINDS = ("normal", "reduction")
TIED = "cell"  # decision prefix when normal and reduction cells share one arch (tie_cells)
MAX_BLOCKS = 6  # exact cost bounds use a DP over consumed-state masks (2^(B+1) x 2^B states)


@dataclass(frozen=True)
class NasCellConfig(SpaceConfig):
    """NASNet macro structure and the cell search space.

    Attributes:
        cells_per_stage: N, normal cells in each of three stages, or a list of per-stage counts
            (a reduction cell between stages). slim's ``num_cells`` with reductions inside the
            total (``calc_reduction_layers``) is the list ``slim_stages`` gives.
        filters: F, operation width of the first stage (doubled by each reduction cell).
        stem: ``"imagenet"`` (3x3 stride-2 VALID conv, then two reduction "stem cells" that use
            the reduction-cell architecture at F/4 and F/2) or ``"cifar"`` (3x3 conv).
        stem_multiplier: Stem conv width is ``int(32 * m)`` (imagenet) or ``int(F * m)``
            (cifar); ``None`` means 1.0 for imagenet and 3.0 for cifar (the released configs).
        blocks: B, blocks per cell (1..6; NASNet and ENAS use 5, DARTS 4).
        ops: Operation names to search over (default the NASNet paper's 13; ``ENAS_OPS`` for
            ENAS micro; ``ALL_OPS`` lists every name).
        combiners: Block combiners: ``("add",)`` (default, as NASNet-A) or with ``"concat"``;
            a ``comb`` decision per block exists only when there are two.
        output_choices: Add per-state output decisions (``if_unused``/``always``). Off gives
            the paper's pure "concatenate unused states" rule (ENAS style).
        skip_reduction_input: slim's ``skip_reduction_layer_input`` (NASNet-A Large): the first
            normal cell after a reduction reads the cell from before the reduction's input.
        tie_cells: One arch for normal and reduction cells (the PNAS search space): decisions
            are named ``cell.*`` instead of ``normal.*`` and ``reduction.*``.
        first_prev: The first cell's previous input: ``raw`` (slim: the stem output as it is)
            or ``conv`` (DARTS, ENAS: the stem output through the cell's own 1x1 conv).
        avg_pool_padding: ``exclude`` (TensorFlow: SAME average pools average real pixels) or
            ``include_strided`` (timm's NASNet/PNASNet ports: stride-2 pools count the zero
            padding; use it to reproduce their outputs with their weights).
        base_conv: ENAS' cell input (micro_child ``layer_base``): the current input, after a
            ReLU-1x1 conv-BN to F only when its width differs, always passes a second one
            (F -> F). Off: slim's single ReLU-1x1 conv-BN.
        classifier_bias: The classifier has a bias (slim, DARTS); ENAS' has none.
        conv_bottleneck: Plain convolutions (``conv_3x3``, ``conv_1x3_3x1``, ``conv_1x7_7x1``,
            ``dil_conv_3x3``) as tensorflow/tpu's AmoebaNet builds them: inside a 1x1 bottleneck
            to F/4 (3F/8 for 1x3/3x1), see ``ops.BottleneckConv``. Off: ReLU-conv(s)-BN at F.
        dropout: Dropout before the classifier (slim uses 0.5 on ImageNet).
    """

    LATER_FIELDS: ClassVar[tuple[str, ...]] = ("tie_cells", "first_prev", "avg_pool_padding", "base_conv",
                                               "classifier_bias", "conv_bottleneck")

    cells_per_stage: int | tuple[int, ...] = 4
    filters: int = 44
    stem: str = "imagenet"
    stem_multiplier: float | None = None
    blocks: int = 5
    ops: tuple[str, ...] = OPS
    combiners: tuple[str, ...] = ("add",)
    output_choices: bool = True
    skip_reduction_input: bool = False
    tie_cells: bool = False
    first_prev: str = "raw"
    avg_pool_padding: str = "exclude"
    base_conv: bool = False
    classifier_bias: bool = True
    conv_bottleneck: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.cells_per_stage
        if isinstance(n, (list, tuple)):
            if not n or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in n):
                raise ValueError(f"cells_per_stage must be a positive int or a non-empty list of them, got {n!r}")
            object.__setattr__(self, "cells_per_stage", tuple(n))
        else:
            positive_int("cells_per_stage", n)
        if positive_int("filters", self.filters) < 4:
            raise ValueError(f"filters must be >= 4 (the ImageNet stem cells use F/4), got {self.filters}")
        one_of("stem", self.stem, ("imagenet", "cifar"))
        m = self.stem_multiplier
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float)) or m <= 0):
            raise ValueError(f"stem_multiplier must be a positive number or None, got {m!r}")
        if self.stem_channels < 1:
            raise ValueError(f"stem_multiplier {m!r} leaves the stem conv with no channels")
        if positive_int("blocks", self.blocks) > MAX_BLOCKS:
            raise ValueError(f"blocks must be in 1..{MAX_BLOCKS}, got {self.blocks}")
        object.__setattr__(self, "ops", _names("ops", self.ops, ALL_OPS))
        object.__setattr__(self, "combiners", _names("combiners", self.combiners, ("add", "concat")))
        one_of("output_choices", self.output_choices, (True, False))
        one_of("skip_reduction_input", self.skip_reduction_input, (True, False))
        one_of("tie_cells", self.tie_cells, (True, False))
        one_of("first_prev", self.first_prev, ("raw", "conv"))
        one_of("avg_pool_padding", self.avg_pool_padding, ("exclude", "include_strided"))
        one_of("base_conv", self.base_conv, (True, False))
        one_of("classifier_bias", self.classifier_bias, (True, False))
        one_of("conv_bottleneck", self.conv_bottleneck, (True, False))
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if self.stem == "imagenet" and self.input_size < 3:
            raise ValueError(f"input_size must be >= 3 for the imagenet stem (3x3 VALID conv), got {self.input_size}")

    @property
    def stem_channels(self) -> int:
        if self.stem == "imagenet":
            return int(32 * (1.0 if self.stem_multiplier is None else self.stem_multiplier))
        return int(self.filters * (3.0 if self.stem_multiplier is None else self.stem_multiplier))

    @property
    def stages(self) -> tuple[int, ...]:
        """Normal cells per stage; a reduction cell precedes every stage but the first."""
        n = self.cells_per_stage
        return n if isinstance(n, tuple) else (n, n, n)

    @property
    def arch_kinds(self) -> tuple[str, ...]:
        """Cell kinds that have their own decisions: ``("cell",)`` when tied."""
        return (TIED,) if self.tie_cells else KINDS

    def arch_kind(self, kind: str) -> str:
        """The decision prefix of a ``normal`` or ``reduction`` cell."""
        return TIED if self.tie_cells else kind

    @property
    def max_mult(self) -> int:
        """Largest cell-output width in units of F: every state, concat blocks counting 2."""
        wide = 2 if "concat" in self.combiners else 1
        return (2 if self.output_choices else 1) + self.blocks * wide


def slim_stages(num_cells: int, num_reductions: int = 2, *, counted: bool = True) -> tuple[int, ...]:
    """``cells_per_stage`` of slim's ``num_cells`` with ``calc_reduction_layers``, which puts
    reductions at cell indices ``int(i / (R + 1) * num_cells)``, i = 1..R.

    Args:
        counted: The reductions are among the ``num_cells`` (PNASNet: ``slim_stages(12)`` is
            ``(4, 3, 3)``); ``False``: each is added before the normal cell at its index
            (NASNet: ``slim_stages(18, counted=False)`` is ``(6, 6, 6)``).
    """
    cuts = [int(i / (num_reductions + 1) * num_cells) for i in range(1, num_reductions + 1)]
    if not counted:
        bounds = [0, *cuts, num_cells]
        return tuple(b - a for a, b in zip(bounds, bounds[1:]))
    bounds = [-1, *cuts, num_cells]
    return tuple(b - a - 1 for a, b in zip(bounds, bounds[1:]))


def _names(field: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(value, (tuple, list)) or not value:
        raise ValueError(f"{field} must be a non-empty list of names from {list(allowed)}, got {value!r}")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise ValueError(f"{field}: unknown name(s) {bad}; allowed: {list(allowed)}")
    if len(set(value)) != len(value):
        raise ValueError(f"{field} has repeated names: {list(value)}")
    return tuple(value)


# --- decision names --------------------------------------------------------------------
def in_name(kind: str, j: int, side: int) -> str:
    return f"{kind}.b{j}.in{side}"


def op_name(kind: str, j: int, side: int) -> str:
    return f"{kind}.b{j}.op{side}"


def comb_name(kind: str, j: int) -> str:
    return f"{kind}.b{j}.comb"


def out_name(kind: str, state: int) -> str:
    return f"{kind}.out{state}"


# --- facts of one arch -------------------------------------------------------------------
def block_mults(cfg: NasCellConfig, choices: Mapping[str, Any], kind: str) -> list[int]:
    """Width of every state of a ``kind`` cell in units of F (cell inputs count 1 once
    preprocessed or matched; a concat block counts 2)."""
    kind = cfg.arch_kind(kind)
    searched = len(cfg.combiners) > 1
    mults = [1, 1]
    for j in range(cfg.blocks):
        comb = choices[comb_name(kind, j)] if searched else cfg.combiners[0]
        mults.append(2 if comb == "concat" else 1)
    return mults


def output_states(cfg: NasCellConfig, choices: Mapping[str, Any], kind: str) -> list[int]:
    """States a ``kind`` cell concatenates: those no block reads, plus those marked ``always``."""
    kind = cfg.arch_kind(kind)
    used = {choices[in_name(kind, j, s)] for j in range(cfg.blocks) for s in (0, 1)}
    out = []
    for state in range(cfg.blocks + 2):
        always = cfg.output_choices and state <= cfg.blocks and choices[out_name(kind, state)] == OUTPUT_OPTIONS[1]
        if state not in used or always:
            out.append(state)
    return out


def output_mult(cfg: NasCellConfig, choices: Mapping[str, Any], kind: str) -> int:
    """Cell output width in units of that cell's F."""
    mults = block_mults(cfg, choices, kind)
    return sum(mults[s] for s in output_states(cfg, choices, kind))
