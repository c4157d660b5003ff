"""Export formats of ``nasengine export``: each writes one deployable form of a model and
reloads it to measure how far its outputs are from the in-memory model's.

Formats are registered like every other extension: entry points in the group
``nasengine.export_formats`` (the built-in ``state_dict``, ``pt2`` and ``onnx`` too, in
``pyproject.toml``) or ``EXPORT_FORMATS.register``.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.registry import Registry
from nasengine.space import SearchSpace

ONNX_EXTRA = 'the optional extra "onnx" (pip install "nasengine[onnx]")'


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Args:
        help: One line for ``--help``.
        write: ``(space, arch, model, inputs, reference outputs, folder) -> (max abs diff, notes)``:
            writes the form into the folder, reloads it and compares it on the inputs.
        missing: ``None`` when the format can be written here, else what it needs (an extra).
        rank: Formats are written in increasing rank (then by name); ``all`` lists them so.
    """

    help: str
    write: Callable[[SearchSpace, Arch, nn.Module, torch.Tensor, torch.Tensor, Path], tuple[float, list[str]]]
    missing: Callable[[], str | None] = lambda: None
    rank: int = 100


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format", "nasengine.export_formats")


def format_names() -> tuple[str, ...]:
    """Every registered format, in the order they are written."""
    return tuple(sorted(EXPORT_FORMATS.names(), key=lambda name: (EXPORT_FORMATS.get(name).rank, name)))


def max_diff(module: nn.Module, x: torch.Tensor, reference: torch.Tensor) -> float:
    with torch.no_grad():
        return float((module(x) - reference).abs().max())


def _write_state_dict(space: SearchSpace, arch: Arch, model: nn.Module, x: torch.Tensor, reference: torch.Tensor,
                      folder: Path) -> tuple[float, list[str]]:
    torch.save(model.state_dict(), folder / "weights.pt")
    fresh = space.build(arch)
    fresh.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    return max_diff(fresh.eval(), x, reference), []


def _write_pt2(space: SearchSpace, arch: Arch, model: nn.Module, x: torch.Tensor, reference: torch.Tensor,
               folder: Path) -> tuple[float, list[str]]:
    try:
        batch = torch.export.Dim("batch", min=1)
        program, notes = torch.export.export(model, (x,), dynamic_shapes=({0: batch},)), []
    except Exception:  # some models specialise on the batch size; a static program still serves
        program = torch.export.export(model, (x,))
        notes = [f"model.pt2 has a fixed batch size of {x.shape[0]} (dynamic batch export failed)"]
    torch.export.save(program, folder / "model.pt2")
    return max_diff(torch.export.load(folder / "model.pt2").module(), x, reference), notes


def onnx_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript"))


def _write_onnx(space: SearchSpace, arch: Arch, model: nn.Module, x: torch.Tensor, reference: torch.Tensor,
                folder: Path) -> tuple[float, list[str]]:
    path = folder / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=({0: "batch"},), verbose=False)
    program.save(str(path))
    output, runtime = _run_onnx(path, x)
    return float((torch.from_numpy(output) - reference).abs().max()), [f"model.onnx checked with {runtime}"]


def _run_onnx(path: Path, x: torch.Tensor) -> tuple[Any, str]:
    """Run an ONNX file with onnxruntime when installed, else onnx's reference evaluator."""
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0], "onnxruntime"
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(path))
    return evaluator.run(None, {evaluator.input_names[0]: x.numpy()})[0], "onnx.reference"


STATE_DICT = ExportFormat(help="weights (weights.pt)", write=_write_state_dict, rank=0)
PT2 = ExportFormat(help="torch.export program (model.pt2)", write=_write_pt2, rank=1)
ONNX = ExportFormat(help="ONNX (model.onnx)", write=_write_onnx,
                    missing=lambda: None if onnx_available() else ONNX_EXTRA, rank=2)
