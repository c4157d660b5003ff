"""Rank correlations (scipy's), with the input checks and the constant-side rule we rely on."""

from __future__ import annotations

import math
import warnings
from typing import Sequence

from scipy import stats


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties corrected); ``nan`` when either side is constant."""
    _check_pair(x, y)
    return _statistic(stats.kendalltau, x, y)


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (ties get their average rank); ``nan`` when either side is constant."""
    _check_pair(x, y)
    return _statistic(stats.spearmanr, x, y)


def _statistic(test, x: Sequence[float], y: Sequence[float]) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    with warnings.catch_warnings():  # scipy warns on near-constant input; the value is still right
        warnings.simplefilter("ignore")
        return float(test(list(x), list(y)).statistic)


def _check_pair(x: Sequence[float], y: Sequence[float]) -> None:
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"rank correlation needs two sequences of equal length >= 2, got {len(x)} and {len(y)}")
