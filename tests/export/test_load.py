from __future__ import annotations

import shutil
import uuid

import pytest
import timm
import torch

import nasengine
from nasengine.export.export import export_model
from nasengine.registry import get_space

CONFIG = {"input_size": 8, "num_classes": 10, "in_channels": 1, "backbone": "small"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An export folder of a channel_width arch whose weights and BN statistics are not the
    initial ones (so loading them is observable)."""
    folder = tmp_path_factory.mktemp("export")
    space = get_space("channel_width", **CONFIG)
    arch = space.sample(3)
    torch.manual_seed(0)
    model = space.build(arch)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.train()(torch.randn(16, 1, 8, 8))  # moves the BN running statistics
    (folder / "arch.json").write_text(arch.to_json(indent=2))
    export_model(space, arch, model, folder, ("state_dict", "pt2"))
    return folder, model.eval()


def _outputs(module, x):
    with torch.no_grad():
        return module(x)


def test_load_builds_the_network_with_its_weights(exported):
    folder, model = exported
    x = torch.randn(4, 1, 8, 8)
    loaded = nasengine.load(folder)
    assert not loaded.training and type(loaded) is type(model)
    assert torch.equal(_outputs(loaded, x), _outputs(model, x))
    assert torch.equal(_outputs(nasengine.load(folder / "arch.json"), x), _outputs(model, x))


def test_load_program_alone(exported, tmp_path):
    folder, model = exported
    shutil.copy(folder / "model.pt2", tmp_path / "model.pt2")
    x = torch.randn(3, 1, 8, 8)
    for path in (tmp_path, tmp_path / "model.pt2"):
        program = nasengine.load(path, trusted=True)
        assert not program.training
        assert torch.allclose(_outputs(program, x), _outputs(model, x), atol=1e-6)


def test_load_errors_name_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nasengine.load(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="neither arch.json"):
        nasengine.load(tmp_path)


def _name() -> str:
    return f"nas_test_{uuid.uuid4().hex[:8]}"


def test_register_timm_builds_the_architecture(exported):
    folder, model = exported
    name = nasengine.register_timm(folder, _name())
    assert name in timm.list_models() and timm.models.is_model_pretrained(name)
    assert timm.models.get_pretrained_cfg(name).file == str(folder / "weights.pt")
    x = torch.randn(2, 1, 8, 8)
    pretrained = timm.create_model(name, pretrained=True).eval()
    assert torch.equal(_outputs(pretrained, x), _outputs(model, x))
    fresh = timm.create_model(name, pretrained=False).eval()
    assert not torch.equal(_outputs(fresh, x), _outputs(model, x))
    assert _outputs(timm.create_model(name, num_classes=3).eval(), x).shape == (2, 3)
    new_head = timm.create_model(name, pretrained=True, num_classes=5)
    assert torch.equal(new_head.conv1.weight, model.conv1.weight) and new_head.fc.weight.shape[0] == 5
    assert new_head.pretrained_cfg["num_classes"] == 5


def test_register_timm_refuses_duplicates_and_bad_input(exported):
    folder, _ = exported
    name = nasengine.register_timm(folder, _name())
    with pytest.raises(ValueError, match="already has a model"):
        nasengine.register_timm(folder, name)
    with pytest.raises(ValueError, match="already has a model"):
        nasengine.register_timm(folder, "resnet18")
    assert nasengine.register_timm(folder, name, overwrite=True) == name
    with pytest.raises(ValueError, match="letters, digits"):
        nasengine.register_timm(folder, "bad.name")
    with pytest.raises(TypeError, match="drop_rate"):
        timm.create_model(name, drop_rate=0.1)
    with pytest.raises(ValueError, match="in_chans"):
        timm.create_model(name, pretrained=True, in_chans=3)
