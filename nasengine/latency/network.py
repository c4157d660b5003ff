"""A latency table of one trained network, for pruning it to a latency limit
(``nasengine compress --max-latency-ms``).

Every Conv2d / Linear of the network has a ``LayerGrid``: its time over a grid of kept input
and output channel fractions. The rest of the network (normalisation, activations, pooling,
additions, Python dispatch) is ``rest_ms + rest_slope_ms * kept``, where ``kept`` is the
share of the network's prunable activations a plan keeps; it is fitted from the whole
network timed at a few uniform widths minus the sum of its layers' times there.

A table holds what it is valid for: the network's structure (a hash of its layers and
input shape), the timing (device, batch, threads, clock) and the machine. ``check`` refuses
a table made for another network, thread count or machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from nasengine.latency.grid import LayerGrid
from nasengine.latency.table_file import read_table
from nasengine.utils.files import save_json_atomic
from nasengine.utils.timing import Timing
from nasengine.utils.validation import finite_number

FORMAT = "nasengine-network-latency/1"
_TIMING_KEYS = ("device", "batch", "threads", "warmup", "repeats", "clock")
_REQUIRED = ("model", *_TIMING_KEYS, "layers", "rest_ms", "rest_slope_ms")
#: What must match between the machine a table was measured on and the one using it.
MACHINE_KEYS = ("processor", "cuda")
BUILD_HINT = "build one with `nasengine latency build --model MODEL --out FILE`"


@dataclass(frozen=True)
class NetworkLatencyTable:
    """Measured milliseconds of one network's layers at reduced widths.

    Attributes:
        model: The network it was measured for: ``structure`` (a hash of its layers and
            input shape, what ``check`` compares), ``input_shape`` and ``source`` (where the
            network came from, for messages).
        timing: How it was timed.
        layers: A grid per Conv2d / Linear, by module name.
        rest_ms: Time of the rest of the network at ``kept`` = 0 (may be negative: layers
            timed alone can be slower than inside the network).
        rest_slope_ms: How the rest grows with ``kept`` (>= 0).
        rest_floor: The smallest ``kept`` the rest was measured at; below it, the rest is
            held at its value there (an upper bound, never a downward extrapolation).
        calibration: The widths the rest was fitted at, with the measured network and
            summed layer times there.
        machine: The machine (``nasengine.bench.suites.machine_info``).
        created: ISO time of measurement.
    """

    model: dict[str, Any]
    timing: Timing
    layers: dict[str, LayerGrid]
    rest_ms: float
    rest_slope_ms: float
    rest_floor: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    def rest(self, kept: float) -> float:
        """Milliseconds of the network outside its Conv2d / Linear modules at ``kept``."""
        return self.rest_ms + self.rest_slope_ms * max(kept, self.rest_floor)

    def check(self, model: Mapping[str, Any], *, machine: Mapping[str, Any] | None = None,
              threads: int | None = None, path: str | Path | None = None) -> None:
        """A ``ValueError`` (one line) unless this table fits network ``model`` (its
        ``structure`` and ``input_shape``), ``threads`` and ``machine`` (each ``None``: not checked)."""
        where = f" {str(path)!r}" if path else ""
        if self.model.get("structure") != model.get("structure") or self.model.get("input_shape") != model.get(
                "input_shape"):
            raise ValueError(f"latency table{where} was measured for another network "
                             f"({_describe(self.model)}, input {self.model.get('input_shape')}), not this one "
                             f"({_describe(model)}, input {model.get('input_shape')}); {BUILD_HINT}")
        if threads is not None and threads != self.timing.threads:
            raise ValueError(f"latency table{where} was measured with {self.timing.threads} thread(s), "
                             f"not --threads {threads}; {BUILD_HINT}")
        if machine is not None and self.machine:
            diff = [f"{k} {self.machine.get(k)!r} (here {machine.get(k)!r})" for k in MACHINE_KEYS
                    if self.machine.get(k) != machine.get(k)]
            if diff:
                raise ValueError(f"latency table{where} was measured on another machine: {', '.join(diff)}; "
                                 f"{BUILD_HINT}")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.model, **asdict(self.timing), "machine": self.machine,
                "created": self.created, "rest_ms": self.rest_ms, "rest_slope_ms": self.rest_slope_ms,
                "rest_floor": self.rest_floor, "calibration": self.calibration,
                "layers": {k: g.to_dict() for k, g in self.layers.items()}}

    def save(self, path: str | Path) -> Path:
        return save_json_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> NetworkLatencyTable:
        """The table in ``path``; a one-line ``ValueError`` when it is missing or not one."""
        data = read_table(path, FORMAT, _REQUIRED, kind="nasengine network latency table", hint=BUILD_HINT)
        bad = f"{str(path)!r} is not a valid network latency table"
        try:
            if not isinstance(data["model"], dict) or not isinstance(data["layers"], dict):
                raise TypeError("'model' and 'layers' must be objects")
            layers = {str(k): LayerGrid.from_dict(v) for k, v in data["layers"].items()}
            return cls(data["model"], Timing(**{k: data[k] for k in _TIMING_KEYS}), layers,
                       finite_number("rest_ms", data["rest_ms"], low=None, high=None),
                       finite_number("rest_slope_ms", data["rest_slope_ms"], low=0, high=None),
                       finite_number("rest_floor", data.get("rest_floor", 0.0), low=0, high=1),
                       dict(data.get("calibration", {})), dict(data.get("machine", {})), str(data.get("created", "")))
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{bad}: {exc}") from None


def _describe(model: Mapping[str, Any]) -> str:
    """``torchvision resnet18``, ``export channel_width``, ``module``: where a network came from."""
    source = model.get("source")
    if not isinstance(source, dict) or not source:
        return "module"
    arch = source.get("arch")
    name = source.get("name") or (arch.get("space") if isinstance(arch, dict) else None)
    return f"{source.get('kind', 'module')} {name}" if name else str(source.get("kind", "module"))
