"""Tests of the MetaPruning-style channel-width space."""

from __future__ import annotations

import time

import pytest
import torch
import torchvision

import nasengine
from nasengine.arch import Arch, ArchError
from nasengine.cost import Cost, count_cost
from nasengine.nn import select_path
from nasengine.space import SearchSpace
from search_spaces.channel_width import METAPRUNING_WIDTHS, ChannelWidthConfig, ChannelWidthSpace
from search_spaces.channel_width.config import make_divisible

#: torchvision's networks at 224x224, 1000 classes (fvcore count of Conv2d + Linear MACs).
TORCHVISION = {
    "mobilenet_v2": Cost(300_774_272, 3_504_872),
    "resnet50": Cost(4_089_184_256, 25_557_032),
}

SMALL_CONFIGS = [
    dict(backbone="mobilenet_v2", input_size=32, num_classes=10),
    dict(backbone="resnet50", input_size=32, num_classes=10),
    dict(backbone="small", input_size=8, num_classes=10, in_channels=1),
    dict(backbone="small", input_size=32, num_classes=10, stage_repeats=(2, 2, 2), rounding="floor"),
    dict(backbone="mobilenet_v2", input_size=32, num_classes=10, widths=(0.5, 1.0, 1.25, 1.5), search_last=False),
    dict(backbone="resnet50", input_size=32, num_classes=10, widths=METAPRUNING_WIDTHS, rounding="floor"),
]


def _space(**config) -> ChannelWidthSpace:
    return nasengine.get_space("channel_width", **config)


def _randomize_bn(net: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine weights so that slicing mistakes show."""
    gen = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "resnet50"])
def test_all_widths_one_is_torchvision(backbone: str) -> None:
    space = _space(backbone=backbone)
    arch = space.presets()[backbone]
    assert set(arch.choices.values()) == {1.0}
    model = space.build(arch)
    reference = getattr(torchvision.models, backbone)()
    assert space.cost(arch) == TORCHVISION[backbone]
    assert count_cost(model, space.input_shape()) == TORCHVISION[backbone]
    assert count_cost(reference, space.input_shape()) == TORCHVISION[backbone]
    assert space.cost_bounds()[1] == TORCHVISION[backbone]  # 1.0 is the widest option
    # Same keys in the same order with the same shapes: torchvision weights load as they are.
    ours, theirs = model.state_dict(), reference.state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in theirs.items()]
    model.load_state_dict(theirs)
    _randomize_bn(reference)
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))


def test_decisions_follow_metapruning_encoding() -> None:
    mbv2 = _space(backbone="mobilenet_v2")
    names = [d.name for d in mbv2.decisions()]
    assert names[:5] == ["stem", "stage1_out", "block2_hidden", "block3_hidden", "stage2_out"]
    assert len(names) == 1 + 7 + 16 + 1 and names[-1] == "last"
    assert all(d.kind == "width" and d.options == mbv2.config.widths for d in mbv2.decisions())
    assert "last" not in [d.name for d in _space(backbone="mobilenet_v2", search_last=False).decisions()]
    r50 = [d.name for d in _space(backbone="resnet50").decisions()]
    assert len(r50) == 1 + 4 + 16 and r50[:5] == ["stem", "layer1_0_mid", "layer1_1_mid", "layer1_2_mid", "layer1_out"]
    assert "layer4_out" not in [d.name for d in _space(backbone="resnet50", search_last=False).decisions()]
    small = [d.name for d in _space(backbone="small", stage_repeats=(2, 1, 1)).decisions()]
    assert small == ["stem", "layer1_0_mid", "layer1_1_mid", "layer1_out", "layer2_0_mid", "layer2_out",
                     "layer3_0_mid", "layer3_out"]  # fmt: skip


def test_widths_are_rounded_like_torchvision() -> None:
    space = _space(backbone="mobilenet_v2", input_size=32, num_classes=10)
    arch = space.arch({d.name: 0.5 for d in space.decisions()})
    model = space.build(arch)
    reference = torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=10)
    # Uniform 0.5: same stem and stage widths as torchvision's width_mult=0.5 (16, 8, 16, ...).
    assert model.features[0][0].out_channels == reference.features[0][0].out_channels == 16
    assert model.features[1].conv[1].out_channels == reference.features[1].conv[1].out_channels == 8
    assert model.features[17].conv[2].out_channels == reference.features[17].conv[2].out_channels == 160
    assert model.features[18][0].out_channels == 640  # the last conv is searched too


@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: f"{c['backbone']}-{c['input_size']}")
def test_cost_equals_fvcore_and_supernet_path_equals_standalone(config: dict) -> None:
    space = _space(**config)
    supernet = space.network()
    _randomize_bn(supernet)
    supernet.eval()
    x = torch.randn(space.input_shape(batch=2))
    low, high = space.cost_bounds()
    for seed in range(3):
        arch = space.sample(seed)
        model = space.build(arch, from_supernet=supernet).eval()
        assert set(model.state_dict()) <= set(supernet.state_dict())
        cost = space.cost(arch)
        assert cost == count_cost(model, space.input_shape()), arch.choices
        assert low.macs <= cost.macs <= high.macs and low.params <= cost.params <= high.params
        with torch.no_grad():
            expected = select_path(supernet, arch)(x)
            assert expected.shape == (2, space.config.num_classes)
            torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", SMALL_CONFIGS[:3], ids=lambda c: f"{c['backbone']}-{c['input_size']}")
def test_cost_bounds_are_the_narrowest_and_widest_nets(config: dict) -> None:
    space = _space(**config)
    widths = space.config.widths
    narrow = space.arch({d.name: widths[0] for d in space.decisions()})
    wide = space.arch({d.name: widths[-1] for d in space.decisions()})
    assert space.cost_bounds() == (space.cost(narrow), space.cost(wide))
    assert space.cost(narrow) == count_cost(space.build(narrow), space.input_shape())


@pytest.mark.parametrize(
    "config",
    [
        dict(stage_widths=(8, 16), stage_repeats=(1, 1), widths=(0.5, 0.75, 1.0), divisor=4),
        # 12 channels: 0.875 rounds up to 16 (> 12 at 1.0), so the extremes are not the
        # first and last options; the bounds must still be exact.
        dict(stage_widths=(12, 12), stage_repeats=(1, 1), widths=(0.25, 0.875, 1.0), stem_width=12),
    ],
)
def test_cost_bounds_match_enumeration(config: dict) -> None:
    space = _space(backbone="small", input_size=8, num_classes=10, **config)
    assert space.size() <= 3**5
    assert space.cost_bounds() == SearchSpace.cost_bounds(space)


def test_metapruning_resnet50_preset_reproduces_published_flops() -> None:
    space = _space(backbone="resnet50", widths=METAPRUNING_WIDTHS, rounding="floor")
    arch = space.presets()["metapruning_resnet50_0.5x"]
    model = space.build(arch)
    # int(64 * 0.67), int(64 * 0.40), int(512 * 0.64): the official code's rounding.
    assert (model.conv1.out_channels, model.layer1[0].conv1.out_channels) == (42, 25)
    assert model.layer4[2].conv2.out_channels == 327 and model.fc.in_features == 2048
    cost = space.cost(arch)
    assert cost == count_cost(model, space.input_shape()) == Cost(1_027_554_986, 10_567_336)
    assert round(cost.macs / 1e9, 1) == 1.0  # published: 1.0G FLOPs (MetaPruning-0.5x)
    # Same arch without searching the last stage (MetaPruning keeps it at 2048).
    fixed_last = _space(backbone="resnet50", widths=METAPRUNING_WIDTHS, rounding="floor", search_last=False)
    assert fixed_last.cost(fixed_last.presets()["metapruning_resnet50_0.5x"]) == cost
    # Other rounding or grid: the published channel counts are not in the space.
    assert "metapruning_resnet50_0.5x" not in _space(backbone="resnet50", widths=METAPRUNING_WIDTHS).presets()
    assert set(_space(backbone="resnet50").presets()) == {"resnet50"}
    assert _space(backbone="small").presets() == {}


def test_cost_is_fast() -> None:
    space = _space(backbone="mobilenet_v2")
    archs = [space.sample(seed) for seed in range(3000)]
    space.cost(archs[0])  # tables are built once, lazily
    start = time.perf_counter()
    for arch in archs:
        space.cost(arch)
    assert len(archs) / (time.perf_counter() - start) > 10_000


def test_forward_on_digits_and_cifar_sizes() -> None:
    for config in (dict(backbone="small", input_size=8, in_channels=1), dict(backbone="mobilenet_v2", input_size=32)):
        space = _space(num_classes=10, **config)
        model = space.build(space.sample(1)).eval()
        with torch.no_grad():
            out = model(torch.randn(space.input_shape(batch=3)))
        assert out.shape == (3, 10) and torch.isfinite(out).all()


def test_bad_width_option_names_decision_and_options() -> None:
    space = _space(backbone="resnet50", input_size=32, num_classes=10)
    choices = dict(space.sample(0).choices)
    choices["layer2_out"] = 0.3
    with pytest.raises(ArchError, match=r"'layer2_out'.*0\.3.*\[0\.25, 0\.375"):
        space.arch(choices)
    with pytest.raises(ArchError, match="layer2_out"):
        space.cost(choices)
    del choices["layer2_out"]
    with pytest.raises(ArchError, match="missing"):
        space.arch(choices)


def test_arch_json_round_trip_and_list_config() -> None:
    space = _space(backbone="small", input_size=8, num_classes=10, widths=[0.5, 1], stage_widths=[8, 16],
                   stage_repeats=[1, 2])  # fmt: skip
    assert space.config.widths == (0.5, 1.0) and space.config.stage_widths == (8, 16)
    arch = space.sample(3)
    again = Arch.from_json(arch.to_json())
    assert again == arch and space.cost(again) == space.cost(arch)


def test_make_divisible_matches_torchvision() -> None:
    from torchvision.models._utils import _make_divisible

    for v in [x / 8 for x in range(1, 4000)]:
        assert make_divisible(v, 8) == _make_divisible(v, 8)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (dict(backbone="vgg"), "backbone must be one of"),
        (dict(widths=(0.5, 0.75)), "must include 1.0"),
        (dict(widths=(1.0, 0.5)), "strictly increasing"),
        (dict(widths=(0.5, 0.5, 1.0)), "strictly increasing"),
        (dict(widths=(0.0, 1.0)), r"width 0.0 is not allowed"),
        (dict(widths=(1.0, 2.0)), r"width 2.0 is not allowed.*\(0, 1.5\]"),
        (dict(widths=(True, 1.0)), "width True is not allowed"),
        (dict(widths=()), "non-empty"),
        (dict(rounding="ceil"), "rounding must be one of"),
        (dict(divisor=0), "divisor must be a positive integer"),
        (dict(search_last="yes"), "search_last"),
        (dict(backbone="small", stage_widths=(16, 32), stage_repeats=(1, 1, 1)), "same length"),
        (dict(backbone="small", stage_repeats=(1, 0, 1)), "stage_repeats must be a positive integer"),
        (dict(backbone="small", stem_width=0), "stem_width must be a positive integer"),
        (dict(backbone="resnet50", stage_widths=(8, 16, 32)), r"\['stage_widths'\] only apply to backbone='small'"),
        (dict(input_size=0), "input_size must be a positive integer"),
        (dict(colour="red"), "unknown config key"),
    ],
)
def test_invalid_configs_raise_value_error(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _space(**config)


def test_config_class_is_frozen_and_registered() -> None:
    assert "channel_width" in nasengine.list_spaces()
    space = ChannelWidthSpace(ChannelWidthConfig(backbone="small", input_size=8))
    assert space.name == "channel_width" and isinstance(space.config, ChannelWidthConfig)
    with pytest.raises(Exception):
        space.config.backbone = "resnet50"  # type: ignore[misc]
    with pytest.raises(ValueError, match="search_last must be True or False"):
        ChannelWidthConfig(search_last="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stage_widths must be a non-empty tuple"):
        ChannelWidthConfig(backbone="small", stage_widths=())
