"""Which path a one-shot supernet trains at each step.

Two rules, both restricted to architectures that meet the hard limits:

* ``uniform``: every feasible architecture equally likely (rejection sampling). Under a
  limit on MACs this still favours mid-cost architectures, because most architectures of
  a large space have a mid-range cost.
* ``binned``: SPOS's remedy (Guo et al. 2019, Sec. 3.4): cut the feasible cost range,
  from the space's minimum to the limit (or the space's maximum), into equal bins, pick a
  bin uniformly, then an architecture inside it. Rejection sampling finds one in the
  common bins; for the rare tail bins of a large space a greedy walk from the nearest
  sample enters the bin and a Metropolis walk inside it (uniform single-decision
  proposals, accepted while they stay in the bin) moves it away from where it entered.

Samplers take a ``numpy.random.Generator``; the trainer seeds one from ``(seed, step)``,
so every rank of a distributed run and every resumed run draws the same path.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nasengine.arch import Arch, ArchError
from nasengine.constraints import Constraints
from nasengine.cost import Cost, human
from nasengine.space import RandomLike, SearchSpace, as_random
from nasengine.utils.validation import non_negative_int, one_of, positive_int

SAMPLING_MODES = ("uniform", "binned")
BIN_METRICS = ("macs", "params")


class SamplingError(ValueError):
    """No architecture can be drawn as configured (infeasible limits, an empty bin)."""


@dataclass(frozen=True)
class SamplingConfig:
    """How paths are drawn.

    Args:
        mode: ``uniform`` or ``binned`` (see the module docstring).
        bins: Number of equal-width cost bins (``binned``).
        bin_by: The cost the bins cut: ``macs`` or ``params``.
        max_tries: Random architectures tried per draw before giving up (``uniform``) or
            walking towards the bin (``binned``).
        walk_steps: Metropolis steps inside a bin entered by the greedy walk.
    """

    mode: str = "uniform"
    bins: int = 5
    bin_by: str = "macs"
    max_tries: int = 200
    walk_steps: int = 50

    def __post_init__(self) -> None:
        one_of("mode", self.mode, SAMPLING_MODES)
        one_of("bin_by", self.bin_by, BIN_METRICS)
        positive_int("bins", self.bins)
        positive_int("max_tries", self.max_tries)
        non_negative_int("walk_steps", self.walk_steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PathSampler:
    """Draws feasible architectures of ``space`` by ``config``'s rule; call it with an rng.

    Args:
        space: The search space.
        limits: Hard limits every drawn architecture meets (``None``: no limit).
        config: The rule; keyword overrides are accepted instead.
    """

    def __init__(self, space: SearchSpace, limits: Constraints | None = None, config: SamplingConfig | None = None,
                 **overrides: Any) -> None:
        self.space = space
        self.limits = limits or Constraints()
        self.config = config or SamplingConfig(**overrides)
        self.limits.check_satisfiable(space)
        self.edges: list[float] = self._edges() if self.config.mode == "binned" else []
        self._decisions = space.decisions()

    def __call__(self, rng: RandomLike) -> Arch:
        r = as_random(rng)
        if self.config.mode == "uniform":
            return self._uniform(r)
        return self.sample_bin(r.randrange(len(self.edges) - 1), r)

    # --- uniform ---------------------------------------------------------------------------
    def _uniform(self, r: random.Random) -> Arch:
        for _ in range(self.config.max_tries):
            arch = self._random(r)
            if arch is not None and self.limits.feasible(self.space, arch):
                return arch
        raise SamplingError(f"no architecture of {self.space.name!r} meets {self._limit_text()} in "
                            f"{self.config.max_tries} random draws; raise the limits or max_tries")

    # --- binned ----------------------------------------------------------------------------
    def _edges(self) -> list[float]:
        key = self.config.bin_by
        low, high = (getattr(c, key) for c in self.space.cost_bounds())
        limit = getattr(self.limits, f"max_{key}")
        high = high if limit is None else min(high, limit)
        return [float(v) for v in np.linspace(low, high, self.config.bins + 1)]

    def bin_of(self, cost: Cost) -> int | None:
        """Index of the bin holding ``cost`` (the last bin includes its upper edge)."""
        value = getattr(cost, self.config.bin_by)
        last = len(self.edges) - 2
        for i in range(last + 1):
            if self.edges[i] <= value < self.edges[i + 1] or (i == last and value == self.edges[-1]):
                return i
        return None

    def sample_bin(self, index: int, rng: RandomLike) -> Arch:
        """An architecture whose cost falls in bin ``index`` and that meets the limits."""
        r = as_random(rng)
        best, best_gap = None, float("inf")
        for _ in range(self.config.max_tries):
            arch = self._random(r)
            if arch is None:
                continue
            gap = self._gap(arch, index)
            if gap == 0:
                return arch
            if gap < best_gap:
                best, best_gap = arch, gap
        if best is None:
            raise SamplingError(f"no valid architecture of {self.space.name!r} in {self.config.max_tries} draws")
        arch = self._climb(best, best_gap, index, r)
        if arch is None:
            lo, hi = self.edges[index], self.edges[index + 1]
            raise SamplingError(f"{self.config.bin_by} bin {index} [{human(lo)}, {human(hi)}] holds no architecture "
                                f"of {self.space.name!r} that meets {self._limit_text()}; use fewer bins "
                                f"(bins={self.config.bins}) or uniform sampling")
        for _ in range(self.config.walk_steps):  # Metropolis: uniform moves, kept while inside
            step = self._neighbour(arch, r)
            if step is not None and self._gap(step, index) == 0:
                arch = step
        return arch

    def _climb(self, arch: Arch, gap: float, index: int, r: random.Random) -> Arch | None:
        """Greedy single-decision moves that never widen the gap to the bin."""
        for _ in range(50 * len(self._decisions)):
            step = self._neighbour(arch, r)
            if step is None:
                continue
            step_gap = self._gap(step, index)
            if step_gap <= gap:
                arch, gap = step, step_gap
                if gap == 0:
                    return arch
        return None

    def _gap(self, arch: Arch, index: int) -> float:
        """0 inside bin ``index`` and the limits; else the relative distance to both."""
        cost = self.space.cost(arch)
        value = getattr(cost, self.config.bin_by)
        lo, hi = self.edges[index], self.edges[index + 1]
        scale = max(self.edges[-1] - self.edges[0], 1.0)
        gap = max(lo - value, 0.0) / scale
        if value > hi or (value == hi and index < len(self.edges) - 2):
            gap += (value - hi) / scale + 1e-12  # the upper edge belongs to the next bin
        for key in BIN_METRICS:
            limit = getattr(self.limits, f"max_{key}")
            if limit is not None and getattr(cost, key) > limit:
                gap += (getattr(cost, key) - limit) / limit
        if gap == 0 and not self.limits.allows(cost, self.limits.predicted_latency(arch)):  # the latency limit
            gap = 1e-9
        return gap

    # --- moves -----------------------------------------------------------------------------
    def _random(self, r: random.Random) -> Arch | None:
        try:
            return self.space.sample(r)
        except ArchError:  # a space rule rejected the draw
            return None

    def _neighbour(self, arch: Arch, r: random.Random) -> Arch | None:
        d = self._decisions[r.randrange(len(self._decisions))]
        if len(d.options) < 2:
            return None
        current = d.index(arch.choices[d.name])
        new = r.randrange(len(d.options) - 1)
        choices = dict(arch.choices)
        choices[d.name] = d.options[new + 1 if new >= current else new]
        try:
            return self.space.arch(choices)
        except ArchError:
            return None

    def _limit_text(self) -> str:
        parts = [f"{k} <= {human(v)}" for k, v in self.limits.to_dict().items() if v is not None]
        return " and ".join(parts) or "no limit"


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator a training step draws its path from: a function of (seed, step) only."""
    return np.random.default_rng([int(seed), int(step)])
