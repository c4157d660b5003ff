"""Published architectures of the layer-wise space, and the configs they were published with.

* ``enas_macro``: the 24-layer macro architecture released with ENAS (melodyguan/enas,
  ``scripts/cifar10_macro_final.sh``).
* ``zoph_le_15``: Zoph & Le's 15-layer CIFAR-10 network without strides or pooling (ICLR 2017,
  Table 1: 4.2M parameters; its layers are drawn in the paper's appendix figure). Its first
  layer (3x3, 36 filters) is the stem here (``stem_width=36``, ``stem_relu``); the other 14
  layers are searched layers. Per layer: filter height x width, filters, and the earlier layers
  concatenated into its input, as read off the figure. Parameter counts and MACs do not
  depend on which side of a non-square filter is its height; that reading cannot be checked
  against the paper's figures.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from nasengine.space import PresetNetwork

from .config import ENAS_MACRO_OPS, ZOPH_LE_FILTERS, ZOPH_LE_OPS, LayersConfig, filters_name, op_name, skip_name

#: melodyguan/enas ``scripts/cifar10_macro_final.sh``: the released 24-layer macro
#: architecture, per layer its op (branch index into ``ENAS_MACRO_OPS[:4]``) and one skip bit
#: per earlier source (stem, layer 0, ...).
_ENAS_MACRO_ARC = """
0
3 0
0 1 0
2 0 0 1
2 0 0 0 0
3 1 1 0 1 0
2 0 0 0 0 0 1
2 0 1 1 0 1 1 1
1 0 1 1 1 0 1 0 1
0 0 0 0 0 0 0 0 0 0
2 0 0 0 0 0 1 0 0 0 0
0 1 0 0 1 1 0 0 0 0 1 1
2 0 1 0 0 0 0 0 1 0 1 1 0
1 0 0 1 0 0 0 1 1 1 0 1 0 1
0 1 1 0 1 0 1 0 0 0 0 0 1 0 0
2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1
2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0
2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1
3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0
3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1
0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0
3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0
0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0
0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0
"""

#: Zoph & Le's 15-layer network, layers C2..C15 (C1 is the stem): (filter height, filter width,
#: filters, the layers C_j whose outputs are concatenated into its input; the previous one included).
ZOPH_LE_15: tuple[tuple[int, int, int, tuple[int, ...]], ...] = (
    (3, 3, 48, (1,)),
    (3, 3, 36, (1, 2)),
    (5, 5, 36, (1, 2, 3)),
    (3, 7, 48, (3, 4)),
    (7, 7, 48, (2, 3, 4, 5)),
    (7, 7, 48, (2, 3, 4, 5, 6)),
    (7, 3, 36, (1, 6, 7)),
    (7, 1, 36, (1, 5, 6, 8)),
    (7, 7, 36, (1, 3, 4, 5, 6, 7, 8, 9)),
    (5, 7, 36, (1, 2, 5, 6, 7, 8, 9, 10)),
    (7, 7, 48, (1, 2, 3, 4, 6, 11)),
    (7, 5, 48, (1, 3, 6, 7, 8, 9, 10, 11, 12)),
    (7, 5, 48, (3, 7, 12, 13)),
    (7, 5, 48, (6, 7, 11, 12, 13, 14)),
)

_CIFAR = {"input_size": 32, "in_channels": 3, "num_classes": 10}

#: Published networks: an arch of ``preset_choices`` with the whole config it was published with.
NETWORKS: dict[str, PresetNetwork] = {
    "enas_macro": PresetNetwork(
        {**_CIFAR, "layers": 24, "filters": (96,)}, "enas_macro",
        "ENAS macro final architecture, CIFAR-10, 96 filters doubled at two reductions; the paper's 21.3M "
        "params (Pham et al. 2018 Table 2) come from a layer definition that differs (docs/layers.md)"),
    "zoph_le_15": PresetNetwork(
        {**_CIFAR, "layers": len(ZOPH_LE_15), "ops": ZOPH_LE_OPS, "filters": ZOPH_LE_FILTERS, "combine": "concat",
         "input_conv": False, "reduce_after": (), "stem_width": 36, "stem_relu": True}, "zoph_le_15",
        "NAS v1 without strides or pooling, 15 layers, CIFAR-10: 4.2M params (Zoph & Le 2017 Table 1)"),
}


@lru_cache(maxsize=1)
def enas_macro_layers() -> tuple[tuple[int, tuple[int, ...]], ...]:
    """(op index, skip bits) per layer of the released ENAS macro architecture."""
    rows = [list(map(int, re.findall(r"\d", line))) for line in _ENAS_MACRO_ARC.strip().splitlines()]
    return tuple((row[0], tuple(row[1:])) for row in rows)


def preset_choices(cfg: LayersConfig) -> dict[str, dict[str, Any]]:
    """The choices of every published architecture ``cfg`` can express."""
    out = {}
    enas = _enas_macro(cfg)
    if enas is not None:
        out["enas_macro"] = enas
    zoph_le = _zoph_le_15(cfg)
    if zoph_le is not None:
        out["zoph_le_15"] = zoph_le
    return out


def _enas_macro(cfg: LayersConfig) -> dict[str, Any] | None:
    layers, ops = enas_macro_layers(), ENAS_MACRO_OPS[:4]
    if (cfg.layers != len(layers) or not set(ops) <= set(cfg.ops) or cfg.skip_inputs != 0
            or cfg.combine != "sum" or len(cfg.filters) != 1 or not cfg.input_conv):
        return None
    choices: dict[str, Any] = {}
    for i, (op, skips) in enumerate(layers):
        choices[op_name(i)] = ops[op]
        choices.update({skip_name(i, s): bit for s, bit in enumerate(skips)})
    return choices


def _zoph_le_15(cfg: LayersConfig) -> dict[str, Any] | None:
    ops = {f"conv_{h}x{w}" for h, w, _, _ in ZOPH_LE_15}
    filters = {n for _, _, n, _ in ZOPH_LE_15}
    if (cfg.layers != len(ZOPH_LE_15) or not ops <= set(cfg.ops) or len(cfg.filters) < 2
            or not filters <= set(cfg.filters) or cfg.combine != "concat" or cfg.skip_inputs != 0
            or cfg.input_conv or cfg.reductions or cfg.stem_filters != 36 or not cfg.stem_relu):
        return None
    choices: dict[str, Any] = {}
    for i, (h, w, n, reads) in enumerate(ZOPH_LE_15):  # searched layer i is C(i + 2); source s is C(s + 1)
        choices[op_name(i)] = f"conv_{h}x{w}"
        choices[filters_name(i)] = n
        choices.update({skip_name(i, s): int(s + 1 in reads) for s in range(i)})
    return choices
