"""timm-native exports: every registered space's networks carry timm's classifier API, and
a registered export carries a ``pretrained_cfg`` with the export's preprocessing."""

from __future__ import annotations

import uuid

import pytest
import timm
import torch
from torch import nn

import nasengine
from nasengine.data import load_space_data
from nasengine.records import ExportRecord, Preprocessing
from nasengine.registry import SPACES, get_space

#: Small configs of the registered spaces (several where a space builds different networks).
SMALL = {
    "shufflenet": [dict(input_size=32, num_classes=10, stem_channels=8, stem_stride=1, stem_pool=False,
                        stage_repeats=(1, 1, 1, 1), stage_channels=(16, 24, 32, 48), last_channels=64)],
    "nas_cell": [dict(stem="cifar", input_size=16, filters=8, cells_per_stage=1, num_classes=10, blocks=2)],
    "layers": [dict(input_size=8, num_classes=10, in_channels=1, layers=4, filters=(8,)),
               dict(input_size=8, num_classes=10, layers=3, filters=(4, 8), combine="concat", skip_inputs=1)],
    "channel_width": [dict(backbone="small", input_size=8, num_classes=10, in_channels=1),
                      dict(backbone="mobilenet_v2", input_size=32, num_classes=10)],
}
#: Every space the package or an installed plug-in registers; spaces the test suite itself
#: registers (``tests.toy_space``) exercise the core only and are left out.
CASES = [(name, config) for name in SPACES.names() if not SPACES.get(name).__module__.startswith("tests.")
         for config in SMALL.get(name, [None])]


def _space(name, config):
    if config is None:
        pytest.fail(f"registered space {name!r} has no small config in SMALL; add one")
    return get_space(name, **config)


def _outputs(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize(("name", "config"), CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_networks_have_the_classifier_api(name, config):
    space = _space(name, config)
    torch.manual_seed(0)
    model = space.build(space.sample(0)).eval()
    x = torch.randn(space.input_shape(batch=2))
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.ndim == 4 and features.shape[1] == model.num_features
        assert torch.equal(model(x), model.forward_head(features))
        pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    classifier = model.get_classifier()
    assert isinstance(classifier, nn.Linear) and classifier.out_features == model.num_classes == space.config.num_classes

    model.reset_classifier(5)
    assert _outputs(model, x).shape == (2, 5) and model.num_classes == 5
    assert model.get_classifier().in_features == model.num_features
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), nn.Identity) and model.num_classes == 0
    assert torch.allclose(_outputs(model, x), pooled)
    model.reset_classifier(0, global_pool="")
    assert _outputs(model, x).shape == features.shape
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(3, global_pool="attention")


def _export(folder, space, preprocessing):
    arch = space.sample(1)
    torch.manual_seed(0)
    model = space.build(arch)
    torch.save(model.state_dict(), folder / "weights.pt")
    ExportRecord.of(arch, space.cost(arch).to_dict(), preprocessing=preprocessing).save(folder / "arch.json")
    return model


@pytest.mark.parametrize(("name", "config"), CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_timm_model_has_the_exports_pretrained_cfg(name, config, tmp_path):
    space = _space(name, config)
    preprocessing = Preprocessing(dataset="fake", input_size=space.config.input_size,
                                  channels=space.config.in_channels, mean=(0.5,) * space.config.in_channels,
                                  std=(0.25,) * space.config.in_channels, interpolation="bilinear")
    _export(tmp_path, space, preprocessing)
    timm_name = nasengine.register_timm(tmp_path, f"nas_test_{uuid.uuid4().hex[:8]}")
    model = timm.create_model(timm_name, pretrained=True)
    cfg = model.pretrained_cfg
    size = space.config.input_size
    assert cfg["input_size"] == (space.config.in_channels, size, size)
    assert cfg["mean"] == preprocessing.mean and cfg["std"] == preprocessing.std
    assert cfg["interpolation"] == "bilinear" and cfg["crop_pct"] == 1.0
    assert cfg["num_classes"] == space.config.num_classes
    assert model.get_submodule(cfg["classifier"]) is model.get_classifier()
    assert isinstance(model.get_submodule(cfg["first_conv"]), nn.Conv2d)
    assert timm.models.get_pretrained_cfg(timm_name).mean == preprocessing.mean


def test_timm_features_and_data_config_follow_the_export(tmp_path):
    space = get_space("channel_width", **SMALL["channel_width"][0])
    data = load_space_data(space, "digits")
    model = _export(tmp_path, space, Preprocessing.from_dict(data.preprocessing()))
    name = nasengine.register_timm(tmp_path, f"nas_test_{uuid.uuid4().hex[:8]}")
    features = timm.create_model(name, pretrained=True, num_classes=0).eval()
    x = torch.randn(2, 1, 8, 8)
    assert features.num_classes == 0 and features.pretrained_cfg["num_classes"] == 0
    with torch.no_grad():
        assert torch.allclose(features(x), model.eval().forward_head(model.forward_features(x), pre_logits=True))
    resolved = timm.data.resolve_data_config({}, model=features)
    assert resolved["mean"] == data.mean and resolved["std"] == data.std and resolved["input_size"] == (1, 8, 8)
    assert timm.create_model(name, in_chans=3).pretrained_cfg["input_size"] == (3, 8, 8)
    assert "mean" not in timm.create_model(name, in_chans=3).pretrained_cfg  # grey statistics do not fit
