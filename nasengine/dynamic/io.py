"""Build, save and load dynamic networks: a folder with ``dynamic.json`` (method and
config) and ``weights.pt`` (state dict) is all ``load_dynamic`` needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasengine.dynamic.methods import DYNAMIC_METHODS
from nasengine.records import read_json
from nasengine.utils.files import save_json_atomic
from nasengine.utils.safe_load import load_checkpoint

FORMAT = 1


def build_dynamic(method: str, config: dict[str, Any]) -> nn.Module:
    """A fresh network of ``method`` (a name in ``DYNAMIC_METHODS``) from its config dict
    (as written by ``save_dynamic``)."""
    if method not in DYNAMIC_METHODS:
        raise ValueError(f"unknown dynamic method {method!r}; choose one of {', '.join(DYNAMIC_METHODS.names())}")
    return DYNAMIC_METHODS.get(method).build(config)


def save_dynamic(model: nn.Module, folder: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``folder/dynamic.json`` and ``folder/weights.pt``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "method": model.method, "config": model.config.to_dict(), **(extra or {})}
    torch.save(model.state_dict(), folder / "weights.pt")
    save_json_atomic(doc, folder / "dynamic.json", indent=2)
    return folder


def model_folder(path: str | Path) -> Path:
    """The folder holding ``dynamic.json``: ``path`` itself or a run's ``model/``."""
    folder = Path(path)
    if (folder / "model" / "dynamic.json").is_file():
        folder = folder / "model"
    if not (folder / "dynamic.json").is_file():
        raise FileNotFoundError(f"{str(path)!r} holds no trained dynamic network (no dynamic.json); "
                                "train one with `nasengine dynamic train`")
    return folder


def saved_dataset(path: str | Path) -> dict[str, Any] | None:
    """The dataset settings a saved network was trained with (name, image_size, channels...)."""
    return json.loads((model_folder(path) / "dynamic.json").read_text()).get("dataset")


def saved_dense_accuracy(path: str | Path) -> float | None:
    """Test accuracy of the dense backbone after pre-training, from the run's metrics.json
    (next to ``model/``, or in an exported folder); None when not recorded."""
    folder = model_folder(path)
    metrics = folder.parent / "metrics.json" if folder.name == "model" else folder / "metrics.json"
    return json.loads(metrics.read_text()).get("dense_test_acc") if metrics.is_file() else None


def load_dynamic(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """A trained dynamic network in inference mode, ready to call on images.

    Args:
        path: A folder written by ``save_dynamic`` / ``nasengine dynamic export``, or a run
            folder of ``nasengine dynamic train`` (its ``model/`` is used).
        device: Where to put the network.
    """
    folder = model_folder(path)
    doc_path = folder / "dynamic.json"
    doc = read_json(doc_path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{doc_path}: unsupported format {found!r} (expected {FORMAT})")
    model = build_dynamic(doc["method"], doc["config"])
    model.load_state_dict(load_checkpoint(folder / "weights.pt", what="weights"))
    return model.to(device).eval()
