"""``nasengine report``: ``ReportConfig`` and ``make_report`` (``nasengine.report.make``),
the run readers (``runs``), the document (``document``), figures and baselines.

The two names are imported on first use, so importing a submodule stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ReportConfig", "make_report"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'nasengine.report' has no attribute {name!r}")
    value = getattr(importlib.import_module("nasengine.report.make"), name)
    globals()[name] = value
    return value
