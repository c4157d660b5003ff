"""nasengine: neural architecture search and dynamic networks for PyTorch."""

from __future__ import annotations

from nasengine.arch import Arch, ArchError, Decision
from nasengine.cost import Cost, count_cost, trace_cost
from nasengine.loading import load, register_timm
from nasengine.registry import controllers, evaluators, get_space, list_spaces, spaces
from nasengine.space import LatencyUnit, SearchSpace, SpaceConfig

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "ArchError",
    "Cost",
    "Decision",
    "LatencyUnit",
    "SearchSpace",
    "SpaceConfig",
    "controllers",
    "count_cost",
    "evaluators",
    "get_space",
    "list_spaces",
    "load",
    "register_timm",
    "spaces",
    "trace_cost",
]
