"""Latency of a quantized network on a hardware target, per layer and bit pair: HAQ's
lookup tables, as :class:`nasengine.layer_policy.BitCost` takes them.

Two sorts of table:

* **Modelled** (``bitfusion``, ``bismo``): the bit-serial accelerators HAQ targets compute
  a ``w``-bit by ``a``-bit multiply as ``w x a`` one-bit products, so a layer's latency is
  modelled as ``MACs x w x a / throughput``, the throughput being the accelerator's peak
  one-bit products per second (:data:`ACCELERATORS`). This is a model, not a measurement:
  it ignores memory traffic, utilisation and BitFusion's 2-bit granularity (its BitBricks
  fuse in pairs of bits, so odd widths cost as the next even one on the chip).
* **Roofline-modelled** (``bismo-edge``, ``bismo-cloud``, :data:`ROOFLINES`): HAQ's point
  that one network is memory bound on an edge accelerator and compute bound on a cloud one.
  A layer takes the longer of its compute time (as above, for the whole batch) and its
  memory time: its weights at ``w`` bits plus its input activations at ``a`` bits for each
  image of the batch, over the off-chip bandwidth. The two configurations are assumptions
  stated in :data:`ROOFLINES` (an edge board with one narrow DDR3 channel at batch 1, a
  datacentre FPGA with high-bandwidth memory at batch 16), not HAQ's own simulator settings.
* **Measured** (``cpu-fp32``, ``cpu-int8``, :mod:`nasengine.quantize.hardware_measure`):
  each layer timed on this machine at its input shape, in float32 or on PyTorch's int8 x86
  kernels. No CPU kernel is faster below 8 bits (narrower codes run in int8 containers), so
  a measured CPU table costs every bit pair of a layer the same: a CPU latency limit is met
  by every policy or by none.

A table is JSON: ``hardware``, ``kind`` (``model`` or ``measured``), ``description``,
``batch``, ``layers`` (names, in forward order), ``ms`` (``layers x 9 x 9``: milliseconds
per batch at weight bits ``w`` and activation bits ``a``, 0 where a bit count is 0),
``fixed_ms`` (the time of everything else: normalisation, pooling, sums) and, for a
measured table, ``machine``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nasengine.layer_policy import BitCost
from nasengine.quantize.layers import QuantizableLayer, QuantizeError

__all__ = ["ACCELERATORS", "HARDWARE", "MEASURED", "MODELLED", "ROOFLINES", "HardwareTable", "Roofline", "analytic_table",
           "load_table"]

MAX_BITS = 8

#: Peak one-bit products per second of the modelled accelerators.
#: BitFusion (Sharma et al., ISCA 2018): 512 Fusion Units x 16 BitBricks, each a 2-bit x
#: 2-bit product (4 one-bit products) per cycle, at 500 MHz.
#: BISMO (Umuroglu et al., FPL 2018), its PYNQ-Z1 instance: an 8 x 8 array of 256-bit dot
#: product units at 200 MHz.
ACCELERATORS: dict[str, float] = {
    "bitfusion": 512 * 16 * 4 * 500e6,
    "bismo": 8 * 8 * 256 * 200e6,
}


@dataclass(frozen=True)
class Roofline:
    """A bit-serial accelerator with a memory roof (see the module).

    Attributes:
        peak: One-bit products per second.
        bandwidth: Off-chip memory bits per second.
        batch: Images per batch (weights are read once per batch).
        description: Where the figures come from.
    """

    peak: float
    bandwidth: float
    batch: int
    description: str


#: The roofline-modelled accelerators: assumed configurations, labelled as such.
ROOFLINES: dict[str, Roofline] = {
    "bismo-edge": Roofline(8 * 8 * 256 * 200e6, 4.264e9 * 8, 1,
                           "BISMO's PYNQ-Z1 array (8 x 8 x 256 at 200 MHz) with one 32-bit DDR3-1066 channel "
                           "(4.26 GB/s), batch 1"),
    "bismo-cloud": Roofline(16 * 16 * 256 * 250e6, 460e9 * 8, 16,
                            "an assumed 16 x 16 x 256 BISMO array at 250 MHz on a datacentre FPGA with HBM2 "
                            "(460 GB/s), batch 16"),
}
MODELLED = (*ACCELERATORS, *ROOFLINES)  #: hardware whose table is a model
MEASURED = ("cpu-fp32", "cpu-int8")  #: tables measured on this machine
HARDWARE = (*MODELLED, *MEASURED)


@dataclass
class HardwareTable:
    """One target's per-layer latency table (see the module)."""

    hardware: str
    kind: str
    description: str
    batch: int
    layers: list[str]
    ms: list[list[list[float]]]
    fixed_ms: float = 0.0
    machine: dict[str, Any] | None = field(default=None)

    def cost(self, layers: Sequence[QuantizableLayer]) -> BitCost:
        """The table as a :class:`BitCost` over ``layers``.

        Raises:
            QuantizeError: The table was made for other layers.
        """
        names = [layer.name for layer in layers]
        if names != self.layers:
            raise QuantizeError(f"hardware table {self.hardware!r} was made for layers {self.layers[:3]}... "
                                f"({len(self.layers)}); this network has {names[:3]}... ({len(names)})")
        return BitCost(np.asarray(self.ms, dtype=np.float64), self.fixed_ms)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        from nasengine.utils.files import save_json_atomic

        save_json_atomic(self.to_dict(), path)
        return Path(path)


def analytic_table(hardware: str, layers: Sequence[QuantizableLayer], *, batch: int = 1) -> HardwareTable:
    """The modelled table of accelerator ``hardware`` (:data:`MODELLED`) for ``layers``; a
    roofline model uses its own batch instead of ``batch``."""
    if hardware in ROOFLINES:
        return _roofline_table(hardware, ROOFLINES[hardware], layers)
    if hardware not in ACCELERATORS:
        raise QuantizeError(f"no latency model of {hardware!r}; modelled: {', '.join(MODELLED)}")
    per_ms = ACCELERATORS[hardware] / 1000.0
    bits = np.arange(MAX_BITS + 1)
    ms = [(batch * layer.macs * np.outer(bits, bits) / per_ms).tolist() for layer in layers]
    return HardwareTable(hardware, "model", f"modelled, not measured: latency = MACs x weight bits x activation "
                                            f"bits / {ACCELERATORS[hardware]:.4g} one-bit products per second "
                                            f"(the peak of {hardware}); memory traffic and utilisation ignored",
                         batch, [layer.name for layer in layers], ms)


def _roofline_table(hardware: str, roof: Roofline, layers: Sequence[QuantizableLayer]) -> HardwareTable:
    bits = np.arange(MAX_BITS + 1, dtype=np.float64)
    ms = []
    for layer in layers:
        compute = roof.batch * layer.macs * np.outer(bits, bits) / roof.peak
        inputs = roof.batch * layer.in_channels * layer.feature_size
        memory = (layer.weights * bits[:, None] + inputs * bits[None, :]) / roof.bandwidth
        ms.append((1000.0 * np.maximum(compute, memory)).tolist())
    return HardwareTable(hardware, "model", f"modelled, not measured: per layer the longer of MACs x weight bits x "
                                            f"activation bits / {roof.peak:.4g} one-bit products per second and "
                                            f"(weights x weight bits + inputs x activation bits) / {roof.bandwidth:.4g} "
                                            f"bits per second, per batch of {roof.batch}; {roof.description}",
                         roof.batch, [layer.name for layer in layers], ms)


def load_table(path: str | Path) -> HardwareTable:
    """A table JSON written by ``nasengine quantize --hardware cpu-*`` (or by hand).

    Raises:
        QuantizeError: No such file, not JSON, or not a table.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        table = HardwareTable(**data)
        ms = np.asarray(table.ms, dtype=np.float64)
    except FileNotFoundError:
        raise QuantizeError(f"--hardware {str(path)!r} is neither a hardware name ({', '.join(HARDWARE)}) nor a "
                            "table file") from None
    except (OSError, ValueError, TypeError) as exc:
        raise QuantizeError(f"--hardware {str(path)!r} is not a hardware table: {exc}") from None
    if ms.shape != (len(table.layers), MAX_BITS + 1, MAX_BITS + 1) or not np.all(np.isfinite(ms)) or ms.min() < 0:
        raise QuantizeError(f"--hardware {str(path)!r}: 'ms' must hold finite times >= 0 of shape "
                            f"({len(table.layers)}, {MAX_BITS + 1}, {MAX_BITS + 1}), got {ms.shape}")
    if table.kind not in ("model", "measured"):
        raise QuantizeError(f"--hardware {str(path)!r}: kind must be 'model' or 'measured', got {table.kind!r}")
    return table
