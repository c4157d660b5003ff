"""Files a run writes: written then renamed, so an interruption never leaves a truncated one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (tuples become lists), as it reads back from a file."""
    return json.loads(json.dumps(value))


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
    tmp.write_text(json.dumps(doc, indent=indent) + "\n")
    tmp.replace(path)
    return path
