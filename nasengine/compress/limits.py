"""Resource limits (``nasengine compress``'s MACs, ``nasengine quantize``'s size and BitOps)
and the one preserve ratio that meets a MACs limit."""

from __future__ import annotations

from typing import Callable

from nasengine.compress.layers import PruningError
from nasengine.cost import human, parse_amount


def parse_macs_limit(text: str | float, source_macs: int) -> int:
    """``--max-macs`` as MACs: absolute (``40M``, ``2500000``) or relative to the source's
    MACs (``25%``, or a number in ``(0, 1]`` such as ``0.25``).

    Raises:
        PruningError: Not an amount, not positive, or a relative limit above 100 %.
    """
    return parse_limit(text, source_macs, option="--max-macs", unit="MACs", error=PruningError)


def parse_limit(text: str | float, reference: int, *, option: str, unit: str,
                error: type[ValueError] = ValueError) -> int:
    """A resource limit ``option`` as a count of ``unit``: absolute (``40M``, ``2500000``)
    or relative to the source's ``reference`` (``25%``, or a number in ``(0, 1]``).

    Raises:
        error: Not an amount, not positive, or a relative limit above 100 %.
    """
    s = str(text).strip()
    try:
        if s.endswith("%"):
            fraction = float(s[:-1]) / 100.0
        else:
            value = parse_amount(s)
            fraction = value if value <= 1.0 and s[-1:].lower() not in "kmg" else -1.0
            if fraction < 0:
                return _positive(int(value), text, option, error)
    except ValueError:
        raise error(f"{option} {text!r} is not a limit; use {unit} (40M, 2500000), a percentage of the "
                    f"source's {unit} (25%) or a fraction of them (0.25)") from None
    if not 0.0 < fraction <= 1.0:
        raise error(f"{option} {text!r}: a relative limit must be in (0%, 100%]")
    return _positive(int(fraction * reference), text, option, error)


def _positive(count: int, text: str | float, option: str, error: type[ValueError]) -> int:
    if count <= 0:
        raise error(f"{option} {text!r} allows nothing at all")
    return count


def ratio_for_limit(macs_at: Callable[[float], int], limit: int, *, floor: float = 1e-3, steps: int = 24) -> float:
    """The largest preserve ratio ``r`` in ``(0, 1]`` with ``macs_at(r) <= limit``, by bisection.

    ``macs_at`` counts the real pruned network (channel counts are rounded, so MACs are a
    step function of ``r``; bisection finds the step below the limit).

    Raises:
        PruningError: Even the smallest network (one channel per layer) exceeds ``limit``.
    """
    if macs_at(1.0) <= limit:
        return 1.0
    smallest = macs_at(floor)
    if smallest > limit:
        raise PruningError(f"--max-macs {human(limit)} cannot be met: pruning every prunable layer to one channel "
                           f"still leaves {human(smallest)} MACs")
    return largest_ratio(lambda r: macs_at(r) <= limit, floor=floor, steps=steps)


def largest_ratio(fits: Callable[[float], bool], *, floor: float = 1e-3, steps: int = 24) -> float:
    """The largest ratio in ``[floor, 1]`` that ``fits`` (monotone: a ratio that fits makes
    every smaller one fit), by bisection; ``floor`` is taken to fit."""
    if fits(1.0):
        return 1.0
    low, high = floor, 1.0
    for _ in range(steps):
        mid = (low + high) / 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return low

