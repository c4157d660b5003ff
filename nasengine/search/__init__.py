"""A search: its configuration (``SearchConfig``, strategies), the runner (``run_search``),
the results it writes, and the tools around it (rank check, tabulated benchmarks)."""

from __future__ import annotations

from nasengine.search.config import STRATEGIES, SearchConfig, Strategy, search_limits
from nasengine.search.runner import run_search

__all__ = ["STRATEGIES", "SearchConfig", "Strategy", "run_search", "search_limits"]
