"""One layer's latency over a grid of kept input and output channel fractions, made
monotone and interpolated bilinearly.

A layer with fewer channels never takes longer in the model the table keeps: measured
times are replaced by their running maximum along each axis (timing noise can make a
narrower layer look slower). Bilinear interpolation of a grid that rises along both axes
rises along both too, so a network's predicted latency never falls when a layer keeps more
channels, which AMC's budget rule relies on. Below the smallest fraction of an axis the
time of that fraction is used (an upper bound, by monotonicity).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class LayerGrid:
    """Milliseconds of one layer: ``ms[i][j]`` at input fraction ``in_fractions[i]`` and
    output fraction ``out_fractions[j]`` (each axis increasing, in ``(0, 1]``, ending at 1;
    an axis the pruning never changes holds ``1.0`` alone)."""

    in_fractions: tuple[float, ...]
    out_fractions: tuple[float, ...]
    ms: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        for name in ("in_fractions", "out_fractions"):
            axis = getattr(self, name)
            if not axis or axis[-1] != 1.0 or any(not a < b for a, b in zip((0.0, *axis), axis)):
                raise ValueError(f"{name} must increase within (0, 1] and end at 1, got {list(axis)}")
        if len(self.ms) != len(self.in_fractions) or any(len(row) != len(self.out_fractions) for row in self.ms):
            raise ValueError(f"ms must be {len(self.in_fractions)} rows of {len(self.out_fractions)} times")
        if any(not (math.isfinite(v) and v >= 0) for row in self.ms for v in row):
            raise ValueError("times must be finite and >= 0")
        if not self.is_monotone():
            raise ValueError("times must not fall as a fraction grows (build the grid with LayerGrid.monotone)")

    @classmethod
    def monotone(cls, in_fractions: Sequence[float], out_fractions: Sequence[float],
                 ms: Sequence[Sequence[float]]) -> LayerGrid:
        """The grid of measured ``ms`` with the running maximum taken along each axis."""
        rows = [list(map(float, row)) for row in ms]
        for i in range(1, len(rows)):
            rows[i] = [max(a, b) for a, b in zip(rows[i - 1], rows[i])]
        for row in rows:
            for j in range(1, len(row)):
                row[j] = max(row[j - 1], row[j])
        return cls(tuple(map(float, in_fractions)), tuple(map(float, out_fractions)), tuple(map(tuple, rows)))

    def is_monotone(self) -> bool:
        rows = self.ms
        along_in = all(a <= b for r0, r1 in zip(rows, rows[1:]) for a, b in zip(r0, r1))
        return along_in and all(a <= b for row in rows for a, b in zip(row, row[1:]))

    def __call__(self, in_fraction: float, out_fraction: float) -> float:
        """Milliseconds at the given fractions (bilinear; clamped to the grid's range)."""
        i, u = _cell(self.in_fractions, in_fraction)
        j, v = _cell(self.out_fractions, out_fraction)
        i1, j1 = min(i + 1, len(self.in_fractions) - 1), min(j + 1, len(self.out_fractions) - 1)
        m = self.ms
        return ((1 - u) * ((1 - v) * m[i][j] + v * m[i][j1])
                + u * ((1 - v) * m[i1][j] + v * m[i1][j1]))

    def to_dict(self) -> dict[str, Any]:
        return {"in_fractions": list(self.in_fractions), "out_fractions": list(self.out_fractions),
                "ms": [list(row) for row in self.ms]}

    @classmethod
    def from_dict(cls, data: Any) -> LayerGrid:
        """A grid from ``to_dict``'s form; a ``ValueError`` or ``TypeError`` names what is wrong."""
        if not isinstance(data, dict):
            raise TypeError(f"a layer grid must be an object, got {type(data).__name__}")
        return cls(tuple(float(f) for f in data["in_fractions"]), tuple(float(f) for f in data["out_fractions"]),
                   tuple(tuple(float(v) for v in row) for row in data["ms"]))


def _cell(axis: Sequence[float], x: float) -> tuple[int, float]:
    """Index ``i`` of the cell ``[axis[i], axis[i + 1]]`` holding ``x`` and ``x``'s position in
    it (0 to 1); ``x`` outside the axis is clamped to its ends."""
    if len(axis) == 1 or x <= axis[0]:
        return 0, 0.0
    if x >= axis[-1]:
        return len(axis) - 1, 0.0
    i = bisect.bisect_right(axis, x) - 1
    return i, (x - axis[i]) / (axis[i + 1] - axis[i])
