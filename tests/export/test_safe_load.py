"""``nasengine.load`` and ``nasengine export`` read export folders without running code
from them; a ``.pt2`` program, which cannot be read that way, needs ``trusted=True``."""

from __future__ import annotations

import contextlib
import io
import shutil
import zipfile

import pytest
import torch

import nasengine
from nasengine.export.export import export_model
from nasengine.registry import get_space
from nasengine.utils.safe_load import CheckpointError
from tests.cli_helpers import run_cli
from tests.payload_helpers import KINDS, Payload, assert_refused, damage

CONFIG = {"input_size": 8, "num_classes": 10, "in_channels": 1, "backbone": "small"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    space = get_space("channel_width", **CONFIG)
    arch = space.sample(1)
    (folder / "arch.json").write_text(arch.to_json(indent=2))
    export_model(space, arch, space.build(arch).eval(), folder, ("state_dict", "pt2"))
    return folder


def _plant_in_program(program, marker):
    """Replace the program's saved example inputs (which ``torch.export.load`` unpickles)
    with a payload; the rest of the archive is untouched."""
    buffer = io.BytesIO()
    torch.save({"x": Payload(marker)}, buffer)
    data = program.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(program, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, buffer.getvalue() if info.filename.endswith("sample_inputs/model.pt") else src.read(info))
    return program


def test_a_bare_program_needs_trusted(exported, tmp_path):
    marker = tmp_path / "ran"
    program = _plant_in_program(shutil.copy(exported / "model.pt2", tmp_path / "model.pt2"), marker)
    for path in (tmp_path, program):
        with pytest.raises(CheckpointError, match="trusted=True") as info:
            nasengine.load(path)
        assert repr(str(program)) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()
    # Why: reading the program unpickles what the file holds (torch then fails to log that it
    # did, on a format string of its own, which is not what is tested here).
    with contextlib.suppress(TypeError):
        nasengine.load(program, trusted=True)
    assert marker.is_dir()


def test_a_genuine_program_loads_when_trusted(exported, tmp_path):
    program = shutil.copy(exported / "model.pt2", tmp_path / "model.pt2")
    assert not nasengine.load(program, trusted=True).training


@pytest.mark.parametrize("kind", KINDS)
def test_load_refuses_bad_weights(kind, exported, tmp_path):
    folder, marker = shutil.copytree(exported, tmp_path / "export"), tmp_path / "ran"
    damage(kind, folder / "weights.pt", marker)
    with pytest.raises(CheckpointError, match="weights .*weights.pt"):
        nasengine.load(folder)
    assert not marker.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_export_refuses_bad_weights(kind, exported, tmp_path, capsys):
    folder, marker = shutil.copytree(exported, tmp_path / "export"), tmp_path / "ran"
    bad = damage(kind, folder / "weights.pt", marker)
    code, _, err = run_cli(capsys, "export", str(folder), "--format", "state_dict", "--out", str(tmp_path / "out"))
    assert_refused(code, err, bad, marker)
