"""nasengine: neural architecture search and dynamic networks for PyTorch.

The plug-in contracts (``SearchSpace``, ``ArchSampler``, ``Evaluator``) and the main
workflow (``SearchConfig``, ``run_search``, ``Constraints``, ``load_dataset``, ...) are
importable from here. Heavy pieces are imported on first use, so ``import nasengine``
stays cheap and the vocabulary modules never import the orchestration layer.
"""

from __future__ import annotations

import importlib
from typing import Any

from nasengine.arch import Arch, ArchError, Decision
from nasengine.cost import Cost, count_cost, trace_cost
from nasengine.registry import AGENTS, CONTROLLERS, EVALUATORS, SPACES, get_space, list_spaces
from nasengine.space import LatencyUnit, SearchSpace, SpaceConfig

__version__ = "0.1.0"

# name -> module that defines it; resolved by ``__getattr__`` on first access.
_LAZY = {
    "ArchSampler": "nasengine.controller",
    "suggest_arch": "nasengine.controller",
    "Constraints": "nasengine.constraints",
    "Evaluation": "nasengine.evaluators.base",
    "Evaluator": "nasengine.evaluators.base",
    "SearchConfig": "nasengine.search",
    "run_search": "nasengine.search",
    "select_path": "nasengine.nn",
    "inherit_weights": "nasengine.nn",
    "load_dataset": "nasengine.data",
    "load_space_data": "nasengine.data",
    "TrainConfig": "nasengine.train",
    "fit": "nasengine.train",
    "load": "nasengine.export",
    "register_timm": "nasengine.export",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nasengine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AGENTS",
    "Arch",
    "ArchError",
    "ArchSampler",
    "CONTROLLERS",
    "Constraints",
    "Cost",
    "Decision",
    "EVALUATORS",
    "Evaluation",
    "Evaluator",
    "LatencyUnit",
    "SPACES",
    "SearchConfig",
    "SearchSpace",
    "SpaceConfig",
    "TrainConfig",
    "count_cost",
    "fit",
    "get_space",
    "inherit_weights",
    "list_spaces",
    "load",
    "load_dataset",
    "load_space_data",
    "register_timm",
    "run_search",
    "select_path",
    "suggest_arch",
    "trace_cost",
]
