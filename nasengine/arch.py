"""Decisions and architectures: the vocabulary every search space speaks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


class ArchError(ValueError):
    """An architecture does not fit its search space (unknown, missing or bad decision)."""


@dataclass(frozen=True)
class Decision:
    """A named categorical choice over an ordered tuple of JSON-able options.

    Args:
        name: Unique name inside the space, e.g. ``"block3"``.
        options: The allowed values, in a fixed order (indices are meaningful).
        kind: ``"op"`` for an operation, ``"input"`` for an input choice, ``"width"`` for
            a channel width; controllers may treat kinds differently.
    """

    name: str
    options: tuple[Any, ...]
    kind: str = "op"

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a decision needs a non-empty name")
        if len(self.options) == 0:
            raise ValueError(f"decision {self.name!r} has no options")
        if len(set(map(_canonical, self.options))) != len(self.options):
            raise ValueError(f"decision {self.name!r} has repeated options: {self.options}")

    def index(self, value: Any) -> int:
        """Position of ``value`` among the options; ``ArchError`` if it is not one."""
        for i, option in enumerate(self.options):
            if _same_value(option, value):
                return i
        raise ArchError(
            f"decision {self.name!r}: {value!r} is not allowed; options are {list(self.options)}"
        )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _same_value(a: Any, b: Any) -> bool:
    # JSON round trips turn 1.0 into 1.0 but users may type 1; bools are not numbers here.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


@dataclass(frozen=True, eq=False)
class Arch:
    """One architecture of a space: ``{space, config, choices}``, immutable and JSON-able.

    Create it through ``SearchSpace.arch(choices)``, which validates; ``Arch.from_json``
    validates against the registered space too.
    """

    space: str
    config: Mapping[str, Any]
    choices: Mapping[str, Any]
    _canonical_json: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "choices", MappingProxyType(dict(self.choices)))
        object.__setattr__(self, "_canonical_json", json.dumps(self.to_dict(), sort_keys=True))

    @property
    def id(self) -> str:
        """Stable 12-hex-digit identifier derived from the canonical JSON."""
        return hashlib.sha1(self._canonical_json.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "config": _jsonable(dict(self.config)),
            "choices": _jsonable(dict(self.choices)),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=indent is None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, validate: bool = True) -> Arch:
        missing = {"space", "choices"} - set(data)
        if missing:
            raise ArchError(f"architecture JSON lacks {sorted(missing)}; it needs space, config, choices")
        if not validate:
            return cls(data["space"], data.get("config", {}), data["choices"])
        from nasengine.registry import get_space  # late: the registry imports spaces lazily

        space = get_space(data["space"], **dict(data.get("config", {})))
        return space.arch(data["choices"])

    @classmethod
    def from_json(cls, text: str, *, validate: bool = True) -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchError(f"architecture is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ArchError("architecture JSON must be an object with space, config, choices")
        return cls.from_dict(data, validate=validate)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arch) and self._canonical_json == other._canonical_json

    def __hash__(self) -> int:
        return hash(self._canonical_json)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def choices_line(choices: dict[str, Any]) -> str:
    """An architecture's choices (or any settings) on one line, one ``name=option`` each, in order:
    ``block0=k3 channel0=0.5 in0=[1,2]``."""
    return " ".join(f"{k}={_value(v)}" for k, v in choices.items())


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_value, value)) + "]"
    return str(value)
