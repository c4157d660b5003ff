"""Benchmark suites: ``BenchSuite`` records in the ``BENCH_SUITES`` registry (``base``), one
``nasengine bench NAME`` subcommand each; ``suites`` holds the report writer and the ``cost`` suite."""
