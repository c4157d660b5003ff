"""What an export folder holds next to the weights and programs: ``arch.json`` (the
architecture with its cost, metrics, trial and input preprocessing) and ``parity.json`` (how closely each
exported form reproduces the in-memory model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from nasengine.arch import Arch
from nasengine.records.base import Record


@dataclass(frozen=True)
class Preprocessing(Record):
    """How the model's inputs were prepared in training: images of ``input_size`` pixels
    with ``channels`` channels, resized with ``interpolation``, raw values in [0, 1]
    normalised as ``(x - mean) / std`` per channel (``None``: not normalised from pixels,
    as synthetic data). ``dataset`` names the data (as ``load_dataset`` names it)."""

    FILE: ClassVar[str] = "arch.json preprocessing"

    dataset: str
    input_size: int
    channels: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None


def preprocessing_in(data: Any, source: str) -> Preprocessing | None:
    """The ``preprocessing`` entry of an ``arch.json`` document (an export's, or the arch
    file of ``nasengine train``), ``None`` where it has none."""
    found = data.get("preprocessing") if isinstance(data, dict) else None
    return None if found is None else Preprocessing.from_dict(found, source)


@dataclass(frozen=True)
class ExportRecord(Record):
    """``exports/<arch-id>/arch.json``: an ``Arch`` (``space``, ``config``, ``choices``, read
    by ``nasengine.load`` like any arch file) with what the search measured of it.

    ``metrics`` holds ``val_acc`` (the search's) and ``test_acc`` when measured; ``trial``
    is the search trial it comes from; ``formats`` the forms ``nasengine export`` wrote;
    ``preprocessing`` the training data's input preparation, absent when the data is not
    known (a search replaying a benchmark table); ``hparams`` the training settings the search
    tuned for it (``--tune``), which ``nasengine train`` on the export uses unless told otherwise.
    """

    FILE: ClassVar[str] = "arch.json"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ("formats", "preprocessing", "hparams")

    space: str
    config: dict[str, Any]
    choices: dict[str, Any]
    id: str
    cost: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    trial: int | None = None
    formats: tuple[str, ...] | None = None
    preprocessing: Preprocessing | None = None
    hparams: dict[str, Any] | None = None

    @classmethod
    def of(cls, arch: Arch, cost: dict[str, Any], metrics: dict[str, Any] | None = None, trial: int | None = None,
           formats: tuple[str, ...] | None = None, preprocessing: Preprocessing | None = None,
           hparams: dict[str, Any] | None = None) -> ExportRecord:
        return cls(**arch.to_dict(), id=arch.id, cost=dict(cost), metrics=dict(metrics or {}), trial=trial,
                   formats=formats, preprocessing=preprocessing, hparams=dict(hparams) if hparams else None)

    def arch(self, *, validate: bool = True) -> Arch:
        """The architecture (validated against its space unless ``validate=False``)."""
        return Arch.from_dict({"space": self.space, "config": self.config, "choices": self.choices},
                              validate=validate)

    @property
    def val_acc(self) -> float | None:
        value = self.metrics.get("val_acc")
        return None if value is None else float(value)


@dataclass(frozen=True)
class ParityInputs(Record):
    """The fixed seeded inputs every exported form is compared on."""

    shape: tuple[int, ...]
    seed: int
    dtype: str


@dataclass(frozen=True)
class ParityRecord(Record):
    """``parity.json``: the largest absolute output difference of each form from the model;
    ``ok`` when every one is at most ``tolerance`` (absolute, already scaled by the outputs)."""

    FILE: ClassVar[str] = "parity.json"

    arch_id: str
    inputs: ParityInputs
    tolerance: float
    max_abs_diff: dict[str, float]
    ok: bool
    torch: str
    notes: tuple[str, ...] = ()
