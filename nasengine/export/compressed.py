"""Writing a compressed network (``nasengine compress``): ``weights.pt``, ``model.pt2``,
``model.onnx`` (with the ``onnx`` extra) and ``compress.json``, each form reloaded and
compared with the network on fixed seeded inputs, as ``export_model`` does for archs.

``nasengine.load(folder)`` rebuilds the network from its source's code (an arch of a space,
a torchvision or timm name) and the recorded channels, then loads ``weights.pt``; a network
compressed from a Python module is restored from ``model.pt2`` (``trusted=True``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from nasengine.compress.rebuild import rebuild, rebuildable
from nasengine.export.export import ExportError
from nasengine.export.formats import EXPORT_FORMATS, max_diff
from nasengine.records.compress import CompressRecord
from nasengine.utils.safe_load import load_checkpoint

#: The forms written besides the weights: programs, which need nothing but the module.
PROGRAM_FORMATS = ("pt2", "onnx")


def export_compressed(model: nn.Module, record: CompressRecord, folder: str | Path, *, tolerance: float = 1e-4,
                      seed: int = 0) -> CompressRecord:
    """Write ``model`` and ``record`` (with the parity of every form) into ``folder``.

    Returns:
        The record as written.

    Raises:
        ExportError: A form's largest output difference exceeds ``tolerance * max(1, max |output|)``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    x = torch.randn((2, *record.input_shape), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        reference = model(x)
    torch.save(model.state_dict(), folder / "weights.pt")
    diffs: dict[str, float] = {}
    if rebuildable(record.source):
        fresh = rebuild(record.source, record.input_shape, record.channels)
        fresh.load_state_dict(load_checkpoint(folder / "weights.pt", what="weights"))
        diffs["state_dict"] = max_diff(fresh.eval(), x, reference)
    for name in PROGRAM_FORMATS:
        form = EXPORT_FORMATS.get(name)
        if form.missing() is None:  # program formats read only the module and its inputs, not a space
            diffs[name], _ = form.write(None, None, model, x, reference, folder)  # type: ignore[arg-type]
    record = replace(record, parity=diffs)
    record.save(folder / CompressRecord.FILE)
    bound = tolerance * max(1.0, reference.abs().max().item())
    bad = {k: v for k, v in diffs.items() if v > bound}
    if bad:
        raise ExportError(f"the compressed network's {', '.join(bad)} form does not reproduce it: max abs difference "
                          f"{max(bad.values()):.3g} exceeds the tolerance {bound:.3g} (see {folder / CompressRecord.FILE})")
    return record
