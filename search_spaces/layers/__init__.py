"""Layer-wise ("macro") search space of Zoph & Le (2017) and ENAS (2018)."""

from __future__ import annotations

from .config import ENAS_MACRO_OPS, ZOPH_LE_FILTERS, ZOPH_LE_OPS, LayersConfig
from .space import LayersSpace

__all__ = ["ENAS_MACRO_OPS", "LayersConfig", "LayersSpace", "ZOPH_LE_FILTERS", "ZOPH_LE_OPS"]
