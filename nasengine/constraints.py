"""Hard cost limits, checked before any evaluation in every strategy."""

from __future__ import annotations

from dataclasses import dataclass

from nasengine.arch import Arch
from nasengine.cost import Cost, human
from nasengine.space import SearchSpace


class ConstraintError(ValueError):
    """A limit no architecture of the space can meet."""


@dataclass(frozen=True)
class Constraints:
    """Upper limits on MACs and parameters (``None``: no limit)."""

    max_macs: float | None = None
    max_params: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_macs", "max_params"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    def allows(self, cost: Cost) -> bool:
        return (self.max_macs is None or cost.macs <= self.max_macs) and (
            self.max_params is None or cost.params <= self.max_params
        )

    def feasible(self, space: SearchSpace, arch: Arch) -> bool:
        return self.allows(space.cost(arch))

    def check_satisfiable(self, space: SearchSpace) -> None:
        """Raise ``ConstraintError`` (with the space's minimum) if a limit cannot be met.

        The minima of MACs and of params are checked separately: when both limits are
        set, a space may still have no single architecture meeting both; random
        sampling then reports it after bounded tries.
        """
        low, _ = space.cost_bounds()
        if self.max_macs is not None and low.macs > self.max_macs:
            raise ConstraintError(f"--max-macs {human(self.max_macs)} is below the minimum of space {space.name!r}: "
                                  f"the smallest architecture needs {human(low.macs)} MACs ({low.macs:,})")
        if self.max_params is not None and low.params > self.max_params:
            raise ConstraintError(f"--max-params {human(self.max_params)} is below the minimum of space {space.name!r}: "
                                  f"the smallest architecture has {human(low.params)} params ({low.params:,})")

    def to_dict(self) -> dict[str, float | None]:
        return {"max_macs": self.max_macs, "max_params": self.max_params}
