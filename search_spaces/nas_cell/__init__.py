"""NASNet cell search space (and the ENAS micro space through ``ops=ENAS_OPS``)."""

from __future__ import annotations

from .config import NasCellConfig
from .ops import ENAS_OPS, OPS
from .space import NasCellSpace

__all__ = ["ENAS_OPS", "NasCellConfig", "NasCellSpace", "OPS"]
