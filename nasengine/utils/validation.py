"""Small argument checks shared by config dataclasses: precise ``ValueError`` messages."""

from __future__ import annotations

from typing import Any, Sequence


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
