"""The bench-suite contract: a suite declares its own options and returns rows of figures.

Suites are registered like every other extension: entry points in the group
``nasengine.bench`` (built-ins too, in ``pyproject.toml``) or ``BENCH_SUITES.register``.
``nasengine bench SUITE`` gets one subcommand per registered suite, with that suite's
options only.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from typing import Any, Callable

from nasengine.registry import Registry

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class BenchSuite:
    """One benchmark suite.

    Args:
        help: One line for ``nasengine bench --help``.
        add_arguments: Adds the suite's options to its subparser.
        run: Measures and returns the rows (printed as a table, written as JSON).
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Rows]


BENCH_SUITES: Registry[BenchSuite] = Registry("bench suite", "nasengine.bench")


def comma_names(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    """The names of a comma-separated option value (``--methods uniform,l1``), each one of
    ``allowed``; ``ValueError`` naming the option, the bad values and the choices."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ValueError(f"{option}: unknown value(s) {bad or [text]}; choose from {', '.join(allowed)}")
    return names


def mean_std(values: list[float], digits: int = 4) -> tuple[float, float]:
    """Mean and population standard deviation over seeds, rounded to ``digits``."""
    return round(statistics.fmean(values), digits), round(statistics.pstdev(values), digits)
