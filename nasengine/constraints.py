"""Hard cost limits, checked before any evaluation in every strategy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from nasengine.arch import Arch
from nasengine.cost import Cost, human
from nasengine.space import SearchSpace


class ConstraintError(ValueError):
    """A limit no architecture of the space can meet."""


@dataclass(frozen=True)
class Constraints:
    """Upper limits on MACs, parameters and predicted latency (``None``: no limit).

    Args:
        max_macs: MACs per image.
        max_params: Parameters.
        max_latency_ms: Milliseconds per call, predicted by ``latency``.
        latency: Predicts an arch's latency (a ``nasengine.latency.table.LatencyPredictor``);
            needed with ``max_latency_ms``.
    """

    max_macs: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    latency: Callable[[Arch], float] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_macs", "max_params", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.max_latency_ms is not None and self.latency is None:
            raise ValueError("a latency limit needs a latency table (--latency-table FILE)")

    def allows(self, cost: Cost, latency_ms: float | None = None) -> bool:
        """Whether ``cost`` (and ``latency_ms``, required under a latency limit) fit."""
        if self.max_latency_ms is not None:
            if latency_ms is None:
                raise ValueError("allows() needs latency_ms when a latency limit is set")
            if latency_ms > self.max_latency_ms:
                return False
        return self._fits(cost)

    def predicted_latency(self, arch: Arch) -> float | None:
        """Predicted milliseconds of ``arch`` when a predictor is set."""
        return None if self.latency is None else self.latency(arch)

    def feasible(self, space: SearchSpace, arch: Arch) -> bool:
        # MACs and params first: they are cheaper than a latency prediction.
        if not self._fits(space.cost(arch)):
            return False
        return self.max_latency_ms is None or self.latency(arch) <= self.max_latency_ms  # type: ignore[misc]

    def _fits(self, cost: Cost) -> bool:
        return (self.max_macs is None or cost.macs <= self.max_macs) and (
            self.max_params is None or cost.params <= self.max_params
        )

    def check_satisfiable(self, space: SearchSpace) -> None:
        """Raise ``ConstraintError`` (with the space's minimum) if a limit cannot be met.

        Each limit is checked against its own minimum: when several are set, a space may
        still have no single architecture meeting all; random sampling then reports it
        after bounded tries. The latency minimum comes from ``latency.fastest()``.
        """
        low, _ = space.cost_bounds()
        if self.max_macs is not None and low.macs > self.max_macs:
            raise ConstraintError(f"--max-macs {human(self.max_macs)} is below the minimum of space {space.name!r}: "
                                  f"the smallest architecture needs {human(low.macs)} MACs ({low.macs:,})")
        if self.max_params is not None and low.params > self.max_params:
            raise ConstraintError(f"--max-params {human(self.max_params)} is below the minimum of space {space.name!r}: "
                                  f"the smallest architecture has {human(low.params)} params ({low.params:,})")
        if self.max_latency_ms is not None:
            fastest = getattr(self.latency, "fastest", None)
            if fastest is None:
                return
            ms, arch = fastest(stop_at=self.max_latency_ms)
            if ms > self.max_latency_ms:
                raise ConstraintError(f"--max-latency-ms {self.max_latency_ms:g} is below the minimum of space "
                                      f"{space.name!r}: the fastest architecture found is predicted at {ms:.3f} ms "
                                      f"(arch {arch.id})")

    def to_dict(self) -> dict[str, float | None]:
        """The limits; ``max_latency_ms`` only when set (records of MACs/params-only runs stay as they were)."""
        out = {"max_macs": self.max_macs, "max_params": self.max_params}
        if self.max_latency_ms is not None:
            out["max_latency_ms"] = self.max_latency_ms
        return out
