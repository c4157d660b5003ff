"""The base of every file record: a frozen dataclass that writes itself as JSON and reads
itself back checked against its own type hints.

A record's fields are its file's keys; reading validates every key against the field's
type (nested records, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``, ``Any``) and fails
with one line that names the file and the bad key, so a hand-edited or stale file stops at
the reader instead of as a ``KeyError`` deep inside a report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from nasengine.utils.files import save_json_atomic

R = TypeVar("R", bound="Record")


@dataclasses.dataclass(frozen=True)
class Record:
    """A file (or a part of one) a run writes; subclasses are frozen dataclasses.

    ``FILE`` names the file in error messages; fields listed in ``OMIT_NONE`` are left out
    of ``to_dict`` when ``None`` (optional parts that older files lack too).
    """

    FILE: ClassVar[str] = "record"
    OMIT_NONE: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON types, keys in field order."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not (f.name in self.OMIT_NONE and getattr(self, f.name) is None)}

    @classmethod
    def from_dict(cls: type[R], data: Any, source: str | None = None) -> R:
        """Read ``data`` (as ``to_dict`` writes it); ``ValueError`` naming ``source`` and the bad key."""
        return _record(cls, data, source or cls.FILE, "")

    def save(self, path: str | Path) -> Path:
        """Write the record as JSON (written then renamed)."""
        return save_json_atomic(self.to_dict(), path)

    @classmethod
    def load(cls: type[R], path: str | Path) -> R:
        """Read and validate the record in ``path``."""
        return cls.from_dict(read_json(path), str(path))


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``; one-line ``ValueError`` when it is missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(), parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None
    except _NotJSON as exc:
        raise ValueError(f"{path}: invalid JSON ({exc} is not a JSON number; numbers must be finite)") from None


class _NotJSON(ValueError):
    """``NaN`` / ``Infinity`` in a file: Python's parser accepts them, JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(name)


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _fail(source: str, key: str, problem: str) -> ValueError:
    return ValueError(f"{source}: bad key {key or '(top level)'!r}: {problem}")


def _record(cls: type[R], data: Any, source: str, key: str) -> R:
    if not isinstance(data, dict):
        raise _fail(source, key, f"expected a JSON object, got {_short(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise _fail(source, _join(key, unknown[0]), f"not a {cls.__name__} key (expected {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(data[name], hints[name], source, _join(key, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(source, _join(key, name), "missing")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # a record's own __post_init__ check
        raise _fail(source, key, str(exc)) from None


def _convert(value: Any, hint: Any, source: str, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, source, key)
    if isinstance(hint, type) and issubclass(hint, Record):
        return _record(hint, value, source, key)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _fail(source, key, f"expected a list, got {_short(value)}")
        items = [_convert(v, args[0], source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, key, f"expected a JSON object, got {_short(value)}")
        return {k: _convert(v, args[1], source, _join(key, k)) for k, v in value.items()}
    ok = {bool: lambda v: isinstance(v, bool), str: lambda v: isinstance(v, str),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}[hint]
    if not ok(value):
        raise _fail(source, key, f"expected {hint.__name__}, got {_short(value)}")
    if hint is float and not math.isfinite(value):  # NaN / Infinity are not JSON; a lenient parser lets them in
        raise _fail(source, key, f"expected a finite number, got {_short(value)}")
    return float(value) if hint is float else value


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
