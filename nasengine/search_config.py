"""The resolved configuration of one search: defaults < YAML file < command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OBJECTIVES = ("acc", "macs", "params")

#: Strategies name a controller (and later a one-shot pipeline) in one word.
STRATEGIES = {"rl": "rl", "evolution": "evolution", "random": "random", "tpe": "tpe", "nsga2": "nsga2"}


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; saved as ``config.yaml`` next to the results."""

    space: str = "shufflenet"
    space_config: dict[str, Any] = field(default_factory=dict)
    controller: str = "evolution"
    controller_options: dict[str, Any] = field(default_factory=dict)
    evaluator: str = "train"
    evaluator_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_root: str | None = None
    epochs: int = 3
    max_macs: float | None = None
    max_params: float | None = None
    trials: int = 20
    seed: int = 0
    objectives: tuple[str, ...] = ("acc",)
    top_k: int = 3
    out: str = "runs/search"
    storage: str | None = None
    study: str = "search"
    timeout: float | None = None

    def __post_init__(self) -> None:
        objectives = tuple(self.objectives)
        object.__setattr__(self, "objectives", objectives)
        bad = [o for o in objectives if o not in OBJECTIVES]
        if bad or not objectives or objectives[0] != "acc" or len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives must start with acc and may add macs and/or params (e.g. acc,macs); "
                             f"got {','.join(objectives)}")
        for name in ("trials", "top_k", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{Path(self.out).resolve() / 'study.db'}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["objectives"] = list(self.objectives)
        return data

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def resolve(cls, file: str | Path | None = None, **overrides: Any) -> SearchConfig:
        """Defaults, then the YAML ``file``, then ``overrides`` whose value is not None."""
        values: dict[str, Any] = {}
        if file is not None:
            path = Path(file)
            if not path.is_file():
                raise ValueError(f"--config {str(path)!r} does not exist")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"--config {str(path)!r} must hold a mapping of option: value")
            values.update(loaded)
        for key, value in overrides.items():
            if value is None:
                continue
            if key in ("space_config", "controller_options", "evaluator_options"):
                values[key] = {**values.get(key, {}), **value}
            else:
                values[key] = value
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown search option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)
