"""Small argument checks shared by config dataclasses: precise ``ValueError`` messages."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an int >= 1 (bools refused), else a ``ValueError`` naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def non_negative_int(name: str, value: Any) -> int:
    """``value`` if it is an int >= 0 (bools refused), else a ``ValueError`` naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0 / 1), else a ``ValueError`` naming it."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def finite_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = True) -> float:
    """``value`` as a float if it is a finite int or float (bools refused) within the
    bounds (``low <= value < high`` by default; ``low_open`` / ``high_open`` say which
    bound is excluded), else a ``ValueError`` stating the range."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
        hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ValueError(f"{name} must be a finite number with {lo}{name}{hi}, got {value!r}")
    return float(value)


def probability(name: str, value: Any) -> float:
    """``value`` as a float if it is a number in ``[0, 1]`` (bools refused), else a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number between 0 and 1 inclusive, got {value!r}")
    return float(value)


def positive_int_tuple(name: str, value: Any) -> tuple[int, ...]:
    """A non-empty tuple (or list) of positive ints, returned as a tuple."""
    if not isinstance(value, (tuple, list)) or not value:
        raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {value!r}")
    for v in value:
        positive_int(f"every entry of {name}", v)
    return tuple(value)


def one_of(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it is in ``allowed``, else a ``ValueError`` listing the allowed values."""
    if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def output_path(name: str, path: str | Path, *, folder: bool) -> Path:
    """``path`` as a ``Path`` if a command can write there: a ``folder`` (or a file) that is
    absent or already one, under an existing writable folder; else a ``ValueError`` naming
    ``name`` and the path. Checked before any work, so that a bad ``--out`` fails at once."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if path.is_dir() else "a file"
        raise ValueError(f"{name} {str(path)!r} is {kind}; it must be {'a folder' if folder else 'a file'}")
    parent = path if folder else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{name} {str(path)!r} cannot be written: {str(parent)!r} is a file, not a folder")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise ValueError(f"{name} {str(path)!r} cannot be written: folder {str(parent)!r} is read-only")
    return path



def with_defaults(method: str, options: Mapping[str, Any], defaults: Mapping[str, Any],
                  error: type[ValueError] = ValueError) -> dict[str, Any]:
    """``options`` of ``method`` (``--set`` settings) over its ``defaults``; ``error``
    names the unknown ones and the known."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise error(f"{method} has no setting(s) {unknown}; its settings: {', '.join(defaults)}")
    return {**defaults, **options}
