"""Loading the files a run writes without running code from them.

A ``.pt`` file is a pickle, and unpickling one may call any function it names, so a
checkpoint received from someone else could run code as soon as it is read. Every file
the engine reads back is loaded with ``weights_only=True``: tensors, numbers, strings,
``None`` and containers of them, nothing else. The engine saves only such data.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "load_checkpoint"]

#: How the weights-only unpickler names a type or function it refused.
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


class CheckpointError(ValueError):
    """A file that cannot be loaded safely: corrupt, not the kind of file expected, or
    holding objects other than tensors and plain data. The CLI prints it as one line."""


def load_checkpoint(path: str | Path, *, what: str = "checkpoint", map_location: Any = "cpu",
                    required: Iterable[str] = ()) -> Any:
    """``torch.load(path, weights_only=True)``, with every way that fails as one error.

    Args:
        path: The file.
        what: What the file is, for the message ("controller state", "supernet").
        map_location: Where tensors are loaded (as ``torch.load``).
        required: Keys the file must hold; when given, it must hold a dict.

    Raises:
        CheckpointError: The file is corrupt or truncated, holds objects other than
            tensors and plain data, or lacks a ``required`` key.
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():  # a hand-made pickle's protocol is refused below, if at all
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001 -- corrupt input surfaces as many exception types
        raise CheckpointError(f"cannot load {what} {str(path)!r}: the file is corrupt or holds objects that "
                              f"are not allowed ({_reason(exc)})") from None
    keys = list(required)
    missing = [k for k in keys if k not in state] if isinstance(state, dict) else keys
    if missing:
        raise CheckpointError(f"{what} {str(path)!r} is not a file nasengine wrote "
                              f"(expected a dict with {keys}; missing {missing})")
    return state


def _reason(exc: Exception) -> str:
    """A short, one-line cause: the refused global if that is why, else the first line."""
    text = str(exc)
    text = text.partition("WeightsUnpickler error:")[2] or text
    refused = _REFUSED_GLOBAL.search(text)
    if refused:
        return f"refused to load {refused.group(1)}; only tensors and plain data are allowed"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "").split(". ")[0]
    if isinstance(exc, KeyError) or not first:  # a KeyError's text is just the unknown key
        return f"unreadable: {type(exc).__name__}"
    return first if len(first) <= 120 else first[:117] + "..."
