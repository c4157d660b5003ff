"""Device names given by a user, checked against this machine."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device, *, allow_auto: bool = False) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (or a ``torch.device`` of those) as a device.

    With ``allow_auto``, ``"auto"`` means cuda when this machine has it, else cpu.
    A ``ValueError`` when the name is unknown or the device unavailable.
    """
    name = str(name)
    if allow_auto and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and name != "cuda" and not name.startswith("cuda:"):
        choices = "auto, cpu, cuda or cuda:N" if allow_auto else "cpu, cuda or cuda:N"
        raise ValueError(f"unknown device {name!r}; use {choices}")
    try:
        device = torch.device(name)
    except RuntimeError:  # "cuda:x"
        raise ValueError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
