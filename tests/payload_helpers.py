"""Files that would run code when unpickled, and damaged files, for the safe-loading tests."""

from __future__ import annotations

import os
from pathlib import Path

import torch

#: Keys of every file the engine saves, so a planted file looks like the real one to any
#: code that inspects it before using it.
KEYS = ("model", "optimizer", "scheduler", "optimizers", "identity", "history", "config", "step", "epoch",
        "next_epoch", "evals", "rng", "format", "decisions", "policy", "log")


class Payload:
    """Unpickling this creates the folder ``marker``: the stand-in for code a planted file runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def plant(path: Path, marker: Path) -> Path:
    """Write ``path`` as a torch file whose every usual key holds a :class:`Payload`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict.fromkeys(KEYS, Payload(marker)), path)
    return path


def truncated(path: Path) -> Path:
    """Write ``path`` as the first half of a genuine torch file (an interrupted copy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"weight": torch.arange(4096.0)}, "step": 3}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def damage(kind: str, path: Path, marker: Path) -> Path:
    """``plant`` (kind ``"payload"``) or ``truncated`` (kind ``"truncated"``) at ``path``."""
    return plant(path, marker) if kind == "payload" else truncated(path)


#: The two kinds of bad file every reader is tested with.
KINDS = ("payload", "truncated")


def assert_refused(code: int, err: str, path: Path, marker: Path) -> None:
    """A CLI run refused ``path``: exit 2, one error line naming the file, nothing ran."""
    assert not marker.exists(), "the planted payload ran"
    assert code == 2, err
    assert err.startswith("nasengine: error:") and err.count("\n") == 1, err
    assert str(path) in err and ("corrupt" in err or "not allowed" in err), err
