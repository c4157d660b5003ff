"""Files a run writes: written then renamed, so an interruption never leaves a truncated one.

Each write goes through its own temporary file in the target's folder, so that several
workers writing one file (a shared run folder) never write into each other's.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (tuples become lists), as it reads back from a file."""
    return json.loads(json.dumps(value))


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path``; renamed onto ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; the file gets the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: setting it is process-wide, not safe while other threads create files
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
    with _replacing(Path(path)) as tmp:
        torch.save(obj, tmp)


def write_text_atomic(text: str, path: str | Path) -> Path:
    """``text`` written to ``path`` then renamed like :func:`save_atomic`."""
    path = Path(path)
    with _replacing(path) as tmp:
        tmp.write_text(text)
    return path


def save_json_atomic(doc: Any, path: str | Path, *, indent: int = 1) -> Path:
    """``doc`` as JSON indented by ``indent``, written then renamed like :func:`save_atomic`."""
    return write_text_atomic(json.dumps(finite_json(doc), indent=indent, allow_nan=False) + "\n", path)
