"""Fixtures of the compression tests."""

from __future__ import annotations

import json

import pytest
import torch

import nasengine

SMALL = dict(backbone="small", input_size=8, num_classes=10, in_channels=1)


@pytest.fixture(scope="module")
def export_folder(tmp_path_factory):
    """An export folder of a small digits network (arch.json + weights.pt)."""
    space = nasengine.get_space("channel_width", **SMALL)
    arch = space.sample(0)
    folder = tmp_path_factory.mktemp("source")
    (folder / "arch.json").write_text(json.dumps(arch.to_dict()))
    torch.manual_seed(0)
    torch.save(space.build(arch).state_dict(), folder / "weights.pt")
    return folder
