"""Published cells of the nas_cell space and the networks built from them.

A cell is written in this space's terms: per block the (input state, operation) of its two
sides, state 0 being the previous cell's output and state 1 the one before it (slim's order;
DARTS and ENAS number them the other way round), plus the states concatenated into the output
although a block reads them (output decision ``always``).

``CELLS`` are the architectures ``NasCellSpace.presets()`` offers under any config that can
express them; ``NETWORKS`` are the published networks: a cell with the whole space config it
was published with (the paper's search space, macro structure and input), so that
``NasCellSpace.from_preset(name)`` builds exactly that network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasengine.space import PresetNetwork

from .cell import OUTPUT_OPTIONS
from .config import TIED, NasCellConfig, comb_name, in_name, op_name, out_name
from .ops import ENAS_OPS

#: PNAS search space (Liu et al. 2018): its eight operations.
PNAS_OPS = ("identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
            "conv_1x7_7x1", "dil_conv_3x3")
#: DARTS search space (Liu, Simonyan, Yang 2019): ``none`` is ``zero``, ``skip_connect`` is
#: ``identity``, ``dil_conv_KxK`` is ``dil_sep_conv_KxK``.
DARTS_OPS = ("zero", "max_pool_3x3", "avg_pool_3x3", "identity", "sep_conv_3x3", "sep_conv_5x5",
             "dil_sep_conv_3x3", "dil_sep_conv_5x5")
#: AmoebaNet search space (Real et al. 2019), the NASNet operations it kept.
AMOEBA_OPS = ("identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
              "dil_sep_conv_3x3", "conv_1x7_7x1")

Side = tuple[int, str]


@dataclass(frozen=True)
class CellArch:
    """One cell: ``blocks[j]`` = ((state, op), (state, op)); ``always``: read states in the output."""

    blocks: tuple[tuple[Side, Side], ...]
    always: frozenset[int] = frozenset()


def _cell(*blocks: tuple[Side, Side], always: tuple[int, ...] = ()) -> CellArch:
    return CellArch(tuple(blocks), frozenset(always))


#: name -> {"normal": ..., "reduction": ...}, or {"cell": ...} for one cell used as both.
CELLS: dict[str, dict[str, CellArch]] = {
    # slim NasNetANormalCell / NasNetAReductionCell (used_hiddenstates gives the "always" states)
    "nasnet_a": {
        "normal": _cell(((0, "sep_conv_5x5"), (1, "sep_conv_3x3")), ((1, "sep_conv_5x5"), (1, "sep_conv_3x3")),
                        ((0, "avg_pool_3x3"), (1, "identity")), ((1, "avg_pool_3x3"), (1, "avg_pool_3x3")),
                        ((0, "sep_conv_3x3"), (0, "identity")), always=(1,)),
        "reduction": _cell(((0, "sep_conv_5x5"), (1, "sep_conv_7x7")), ((0, "max_pool_3x3"), (1, "sep_conv_7x7")),
                           ((0, "avg_pool_3x3"), (1, "sep_conv_5x5")), ((3, "identity"), (2, "avg_pool_3x3")),
                           ((2, "sep_conv_3x3"), (0, "max_pool_3x3")), always=(3,)),
    },
    # slim PNasNetNormalCell: one cell for both kinds, all five blocks concatenated.
    "pnasnet_5": {
        TIED: _cell(((1, "sep_conv_5x5"), (1, "max_pool_3x3")), ((0, "sep_conv_7x7"), (0, "max_pool_3x3")),
                    ((0, "sep_conv_5x5"), (0, "sep_conv_3x3")), ((4, "sep_conv_3x3"), (0, "max_pool_3x3")),
                    ((1, "sep_conv_3x3"), (0, "identity")), always=(4,)),
    },
    # DARTS genotypes.py DARTS_V2, concat range(2, 6).
    "darts_v2": {
        "normal": _cell(((1, "sep_conv_3x3"), (0, "sep_conv_3x3")), ((1, "sep_conv_3x3"), (0, "sep_conv_3x3")),
                        ((0, "sep_conv_3x3"), (1, "identity")), ((1, "identity"), (2, "dil_sep_conv_3x3")),
                        always=(2,)),
        "reduction": _cell(((1, "max_pool_3x3"), (0, "max_pool_3x3")), ((2, "identity"), (0, "max_pool_3x3")),
                           ((1, "max_pool_3x3"), (2, "identity")), ((2, "identity"), (0, "max_pool_3x3")),
                           always=(2,)),
    },
    # tensorflow/tpu amoeba_net model_specs "amoeba_net_a" (slim state order).
    "amoebanet_a": {
        "normal": _cell(((0, "avg_pool_3x3"), (0, "max_pool_3x3")), ((1, "sep_conv_3x3"), (1, "identity")),
                        ((0, "identity"), (1, "avg_pool_3x3")), ((0, "sep_conv_3x3"), (2, "sep_conv_5x5")),
                        ((5, "avg_pool_3x3"), (0, "sep_conv_3x3")), always=(1,)),
        "reduction": _cell(((1, "sep_conv_3x3"), (0, "avg_pool_3x3")), ((0, "max_pool_3x3"), (2, "sep_conv_7x7")),
                           ((1, "max_pool_3x3"), (0, "max_pool_3x3")), ((4, "sep_conv_3x3"), (0, "conv_1x7_7x1")),
                           ((1, "avg_pool_3x3"), (0, "sep_conv_7x7")), always=(2, 4)),
    },
    # melodyguan/enas scripts/cifar10_micro_final.sh fixed_arc (unused states concatenated).
    "enas_micro": {
        "normal": _cell(((1, "avg_pool_3x3"), (1, "sep_conv_3x3")), ((1, "identity"), (1, "sep_conv_5x5")),
                        ((1, "identity"), (0, "sep_conv_5x5")), ((0, "sep_conv_3x3"), (1, "sep_conv_5x5")),
                        ((1, "avg_pool_3x3"), (0, "sep_conv_5x5"))),
        "reduction": _cell(((0, "sep_conv_3x3"), (0, "sep_conv_3x3")), ((1, "max_pool_3x3"), (1, "avg_pool_3x3")),
                           ((0, "sep_conv_5x5"), (3, "sep_conv_5x5")), ((0, "sep_conv_3x3"), (1, "identity")),
                           ((1, "max_pool_3x3"), (0, "sep_conv_5x5"))),
    },
}

_IMAGENET = {"stem": "imagenet", "num_classes": 1000}
_CIFAR = {"stem": "cifar", "input_size": 32, "num_classes": 10}

#: Published networks: a cell of ``CELLS`` with the whole config it was published with.
NETWORKS: dict[str, PresetNetwork] = {
    "nasnet_a_mobile": PresetNetwork(
        {**_IMAGENET, "input_size": 224, "cells_per_stage": 4, "filters": 44}, "nasnet_a",
        "NASNet-A (4 @ 1056), Zoph et al. 2018 Table 2: 5.3M params, 564M mult-adds"),
    "nasnet_a_large": PresetNetwork(
        {**_IMAGENET, "input_size": 331, "cells_per_stage": 6, "filters": 168, "stem_multiplier": 3.0,
         "skip_reduction_input": True}, "nasnet_a",
        "NASNet-A (6 @ 4032), slim's large config; timm nasnetalarge: 88,753,150 params"),
    "pnasnet5_large": PresetNetwork(
        {**_IMAGENET, "input_size": 331, "cells_per_stage": (4, 3, 3), "filters": 216, "stem_multiplier": 3.0,
         "ops": PNAS_OPS, "tie_cells": True}, "pnasnet_5",
        "PNASNet-5 (N=4, F=216), slim's large config; timm pnasnet5large: 86,057,668 params"),
    "darts_v2": PresetNetwork(
        {**_CIFAR, "cells_per_stage": 6, "filters": 36, "blocks": 4, "ops": DARTS_OPS, "first_prev": "conv"},
        "darts_v2", "DARTS (second order) on CIFAR-10, 20 cells, C=36: 3.3M params (Liu et al. 2019 Table 1)"),
    "amoebanet_a": PresetNetwork(
        {**_CIFAR, "cells_per_stage": 6, "filters": 36, "ops": AMOEBA_OPS, "conv_bottleneck": True}, "amoebanet_a",
        "AmoebaNet-A (N=6, F=36) on CIFAR-10: 3.2M params (Real et al. 2019 Table 1)"),
    "amoebanet_a_large": PresetNetwork(
        {**_IMAGENET, "input_size": 331, "cells_per_stage": 6, "filters": 190, "ops": AMOEBA_OPS,
         "conv_bottleneck": True}, "amoebanet_a",
        "AmoebaNet-A (N=6, F=190) on ImageNet, tensorflow/tpu's structure: 86.7M params, 23.1B mult-adds "
        "(Real et al. 2019 Table 3)"),
    "enas_micro": PresetNetwork(
        {**_CIFAR, "cells_per_stage": 5, "filters": 36, "ops": ENAS_OPS, "output_choices": False,
         "first_prev": "conv", "base_conv": True, "classifier_bias": False}, "enas_micro",
        "ENAS micro final network as cifar10_micro_final.sh builds it (N=5, F=36): 3,894,372 params, "
        "auxiliary head excluded as its code counts; the paper reports 4.6M (Pham et al. 2018 Table 2)"),
}


def cell_choices(cfg: NasCellConfig, cells: dict[str, CellArch]) -> dict[str, Any] | None:
    """The choices of a ``CELLS`` entry under ``cfg``, or ``None`` when ``cfg`` cannot express it
    (block count, operations, no ``add``, needed ``always`` outputs, distinct cells when tied)."""
    if cfg.tie_cells and TIED not in cells:
        return None
    sources = {kind: cells.get(TIED) or cells[kind] for kind in cfg.arch_kinds}
    for cell in sources.values():
        ops = {op for block in cell.blocks for _, op in block}
        if len(cell.blocks) != cfg.blocks or not ops <= set(cfg.ops) or "add" not in cfg.combiners:
            return None
        if cell.always and not cfg.output_choices:
            return None
    choices: dict[str, Any] = {}
    for kind, cell in sources.items():
        for j, block in enumerate(cell.blocks):
            for side, (state, op) in enumerate(block):
                choices[in_name(kind, j, side)] = state
                choices[op_name(kind, j, side)] = op
            if len(cfg.combiners) > 1:
                choices[comb_name(kind, j)] = "add"
        if cfg.output_choices:
            for s in range(cfg.blocks + 1):
                choices[out_name(kind, s)] = OUTPUT_OPTIONS[1] if s in cell.always else OUTPUT_OPTIONS[0]
    return choices

