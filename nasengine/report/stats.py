"""95% confidence intervals of the accuracies a report shows.

Several seeds: Student's t interval of the mean, ``mean +- t(0.975, n - 1) * std / sqrt(n)``
(sample std). One training (or one deterministic fit): the Wilson score interval of the
accuracy as a binomial proportion over the ``n`` evaluated images, which unlike the normal
approximation stays inside 0..1 near 100 %.
"""

from __future__ import annotations

import math
from typing import Sequence

from scipy import stats

#: Two-sided confidence level of every interval in a report.
LEVEL = 0.95


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Student's t interval of the mean of ``values`` (at least two)."""
    n = len(values)
    if n < 2:
        raise ValueError(f"a t interval needs at least 2 values, got {n}")
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def wilson_interval(acc: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of an accuracy ``acc`` measured on ``n`` images."""
    if n < 1 or not 0.0 <= acc <= 1.0:
        raise ValueError(f"need an accuracy in 0..1 over n >= 1 images, got {acc} over {n}")
    z = float(stats.norm.ppf(0.5 + level / 2))
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(values: Sequence[float], n_images: int | None) -> tuple[float, float] | None:
    """The interval a report shows for accuracies ``values`` (one per seed): t over seeds
    when there are several, Wilson over ``n_images`` for a single one, ``None`` when the
    number of images is unknown."""
    if len(values) > 1:
        return t_interval(values)
    if len(values) == 1 and n_images:
        return wilson_interval(values[0], n_images)
    return None


def interval_method(seeds: int) -> str:
    """How ``accuracy_interval`` computed the interval of ``seeds`` values, for captions."""
    return (f"Student's t over the {seeds} seeds (mean ± t·std/√n)" if seeds > 1
            else "Wilson score interval over the evaluated images (one training)")
