"""Files a run writes: written then renamed, so an interruption never leaves a truncated one."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (tuples become lists), as it reads back from a file."""
    return json.loads(json.dumps(value))


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None``, so that it is written as
    standard JSON (``null``; Python's ``NaN`` / ``Infinity`` are not JSON and other readers
    refuse them). A statistic that is undefined, such as a rank correlation against a constant
    ranking, is stored as ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def save_atomic(obj: Any, path: Path) -> None:
    # Write then rename, so an interruption never leaves a truncated checkpoint.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def save_json_atomic(doc: Any, path: str | Path, *, indent: int = 1) -> Path:
    """``doc`` as JSON indented by ``indent``, written then renamed like :func:`save_atomic`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(finite_json(doc), indent=indent, allow_nan=False) + "\n")
    tmp.replace(path)
    return path
