"""Device names given by a user, checked against this machine."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``; a ``ValueError`` when unknown or unavailable."""
    if name != "cpu" and name != "cuda" and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; use cpu, cuda or cuda:N")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
