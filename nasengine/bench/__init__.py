"""Benchmark suites: ``BenchSuite`` records in the ``BENCH_SUITES`` registry, one
``nasengine bench NAME`` subcommand each; ``suites`` holds the report writer and the ``cost`` suite."""

from __future__ import annotations

from nasengine.bench.base import BENCH_SUITES, BenchSuite

__all__ = ["BENCH_SUITES", "BenchSuite"]
