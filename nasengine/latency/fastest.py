"""The fastest architecture of a space under a latency predictor (for the hard limit's
"minimum achievable latency")."""

from __future__ import annotations

import itertools
import random
from typing import Any, Callable

from nasengine.arch import Arch, ArchError
from nasengine.space import SearchSpace

Predict = Callable[[Arch], float]


def fastest(space: SearchSpace, predict: Predict, *, restarts: int = 4, seed: int = 0,
            stop_at: float | None = None) -> tuple[float, Arch]:
    """The lowest predicted latency and its arch; with ``stop_at``, the first arch found
    at or below it (what a feasibility check needs: 100 random archs are tried first).

    Spaces of up to 20,000 archs are enumerated (exact). Larger ones take the best of
    ``restarts`` local searches from random archs; a move changes one decision, or two
    that change the same latency unit (a block and its width, the two widths of a layer).
    When every unit depends on the decisions of one such pair at most and units share no
    decision, as in ``shufflenet``, the search is exact; otherwise it is the fastest found.
    """
    rng = random.Random(f"latency-fastest:{seed}")
    if stop_at is not None:
        for arch in (space.sample(rng) for _ in range(100)):
            if predict(arch) <= stop_at:
                return predict(arch), arch
    if space.size() <= 20_000:
        return min(((predict(a), a) for a in space.all_archs(limit=20_000)), key=lambda t: t[0])
    best: tuple[float, Arch] | None = None
    for _ in range(restarts):
        arch = space.sample(rng)
        pairs = interacting_pairs(space, arch)
        moves = [(d.name,) for d in space.decisions()] + pairs
        ms, improved = predict(arch), True
        while improved:
            improved = False
            for names in moves:
                for values in itertools.product(*(space.decision(n).options for n in names)):
                    candidate = _with(space, arch, dict(zip(names, values)))
                    if candidate is None:
                        continue
                    value = predict(candidate)
                    if value < ms - 1e-12:
                        arch, ms, improved = candidate, value, True
                        if stop_at is not None and ms <= stop_at:
                            return ms, arch
        if best is None or ms < best[0]:
            best = (ms, arch)
    assert best is not None
    return best


def interacting_pairs(space: SearchSpace, arch: Arch) -> list[tuple[str, str]]:
    """Pairs of decisions that change a common latency unit of ``arch`` (units compared by
    position; a decision that changes how many units there are is left out)."""
    base = [u.key for u in space.latency_units(arch)]
    touched: dict[str, set[int]] = {}
    for d in space.decisions():
        positions: set[int] = set()
        for option in d.options:
            candidate = _with(space, arch, {d.name: option})
            if candidate is None:
                continue
            keys = [u.key for u in space.latency_units(candidate)]
            if len(keys) != len(base):
                positions = set()  # the unit count changes: no fixed positions to swap
                break
            positions |= {i for i, (a, b) in enumerate(zip(base, keys)) if a != b}
        if positions:
            touched[d.name] = positions
    names = list(touched)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if touched[a] & touched[b]]


def _with(space: SearchSpace, arch: Arch | None, changes: dict[str, Any]) -> Arch | None:
    try:
        return space.arch({**(arch.choices if arch is not None else {}), **changes})
    except ArchError:  # a rule spanning decisions rejects it
        return None
