"""Use exported architectures: ``load`` an export folder as a ready module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasengine.arch import Arch, ArchError
from nasengine.records.base import read_json
from nasengine.utils.safe_load import CheckpointError, load_checkpoint

__all__ = ["load", "read_arch", "arch_space"]

def load(path: str | Path, *, trusted: bool = False) -> nn.Module:
    """A ready module in eval mode from an export folder (or a file in one).

    ``arch.json`` + ``weights.pt`` build the network with the space's code and load the
    weights; ``compress.json`` + ``weights.pt`` (``nasengine compress``) rebuild the pruned
    network from its source's code and recorded channels and load the weights (tensors
    only: nothing in the folder can run code); ``quantize.json`` + ``packed.pt``
    (``nasengine quantize``) rebuild the quantized network from its source's code and its
    packed low-bit weights, bit for bit. A folder with only
    ``model.pt2`` (or a ``.pt2`` file) gives the ``torch.export`` program's module, which
    needs no nasengine code to be defined (it was exported in eval mode and cannot be
    switched to training); reading a ``.pt2`` unpickles parts of it, which can run any
    code the file's author put there, so it is done only with ``trusted=True``.

    Raises:
        CheckpointError: ``weights.pt`` is corrupt or holds more than tensors, or only a
            ``.pt2`` program is there and ``trusted`` is false.
        FileNotFoundError: There is nothing to load at ``path``.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".pt2":
        return _program_module(path, trusted)
    folder = path.parent if path.is_file() else path
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    if (folder / "compress.json").is_file() and (folder / "weights.pt").is_file() and _rebuildable(folder):
        from nasengine.compress.rebuild import load_compressed

        return load_compressed(folder)
    if (folder / "quantize.json").is_file() and (folder / "packed.pt").is_file():
        from nasengine.quantize.export import load_quantized

        return load_quantized(folder)
    if (folder / "arch.json").is_file() and (folder / "weights.pt").is_file():
        arch = read_arch(folder)
        model = arch_space(arch).build(arch)
        model.load_state_dict(load_checkpoint(folder / "weights.pt", what="weights"))
        return model.eval()
    if (folder / "model.pt2").is_file():
        return _program_module(folder / "model.pt2", trusted)
    raise FileNotFoundError(f"{str(folder)!r} holds neither arch.json + weights.pt nor model.pt2; "
                            "export the run with `nasengine export RUN`")


def _rebuildable(folder: Path) -> bool:
    """Whether ``nasengine compress`` wrote ``folder`` from a source with code (an arch, a
    torchvision or timm name); a network compressed from a Python module has only its program."""
    from nasengine.compress.rebuild import rebuildable
    from nasengine.records.compress import CompressRecord

    return rebuildable(CompressRecord.load(folder / CompressRecord.FILE).source)


def _program_module(path: Path, trusted: bool) -> nn.Module:
    if not trusted:
        raise CheckpointError(f"{str(path)!r} is a torch.export program, and loading one unpickles parts of it, "
                              "which can run code; pass trusted=True only for a file from a source you trust "
                              "(arch.json + weights.pt load safely)")
    module = torch.export.load(path).module()
    # The graph was traced in eval mode; exported modules refuse .eval(), so set the flags.
    for m in module.modules():
        m.training = False
    return module


def read_arch(folder: Path) -> Arch:
    """The validated ``Arch`` in ``folder/arch.json``; a one-line error names the file."""
    path = folder / "arch.json"
    data = read_json(path)
    if not isinstance(data, dict):
        raise ArchError(f"{path}: expected a JSON object with space, config and choices, got {type(data).__name__}")
    try:
        return Arch.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ArchError(f"{path}: {exc}") from None


def arch_space(arch: Arch, **overrides: Any) -> Any:
    """The space ``arch`` belongs to, with its config and ``overrides``."""
    from nasengine.registry import get_space

    return get_space(arch.space, **{**dict(arch.config), **overrides})
