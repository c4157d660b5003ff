"""NASNet cell search space (and the ENAS micro, DARTS and PNAS spaces through its options)."""

from __future__ import annotations

from .config import NasCellConfig, slim_stages
from .ops import ALL_OPS, ENAS_OPS, EXTRA_OPS, OPS
from .presets import AMOEBA_OPS, CELLS, DARTS_OPS, NETWORKS, PNAS_OPS
from .space import NasCellSpace

__all__ = ["ALL_OPS", "AMOEBA_OPS", "CELLS", "DARTS_OPS", "ENAS_OPS", "EXTRA_OPS", "NETWORKS", "NasCellConfig",
           "NasCellSpace", "OPS", "PNAS_OPS", "slim_stages"]
