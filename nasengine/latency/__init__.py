"""Latency lookup tables: time every piece of a space once, predict any architecture as the
sum of its pieces (``LatencyTable``, ``LatencyPredictor``), and check the prediction."""

from __future__ import annotations

from nasengine.latency.table import LatencyPredictor, LatencyTable, build_table, check_table

__all__ = ["LatencyPredictor", "LatencyTable", "build_table", "check_table"]
