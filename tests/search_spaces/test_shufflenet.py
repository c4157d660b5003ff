"""Tests of the Single Path One-Shot ShuffleNetV2 space (search_spaces.shufflenet)."""

from __future__ import annotations

import random
import time

import pytest
import torch

import nasengine
from nasengine import Arch, ArchError, Cost, count_cost
from nasengine.nn import select_path
from nasengine.space import SearchSpace
from nasengine.testing.spaces import randomize_batchnorm
from search_spaces.shufflenet import ShuffleNetConfig, ShuffleNetSpace, mid_channels
from search_spaces.shufflenet_blocks import split_channels

SMALL = dict(input_size=32, num_classes=10, stem_channels=8, stem_stride=1, stem_pool=False,
             stage_repeats=(1, 1, 2, 1), stage_channels=(16, 24, 32, 48), last_channels=64)


# --- published architectures ---------------------------------------------------------------
def test_block_search_preset_reproduces_official_release():
    # megvii-model/SinglePathOneShot README: (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)
    # at 323M FLOPs (multiply-adds), 3.5M params.
    space = nasengine.get_space("shufflenet")
    arch = space.presets()["spos_block_search"]
    assert [space.decision(f"block{i}").index(arch.choices[f"block{i}"]) for i in range(20)] == [
        2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3]
    expected = Cost(macs=322_918_720, params=3_558_464)
    assert space.cost(arch) == expected
    assert count_cost(space.build(arch), space.input_shape()) == expected
    assert round(expected.macs / 1e6) == 323
    # 3.529M without BatchNorm scale/shift: the README's "3.5M".
    without_affine = nasengine.get_space("shufflenet", bn_affine=False)
    assert without_affine.cost(without_affine.arch(arch.choices)).params == 3_529_312


def test_block_channel_search_preset_reproduces_published_figures():
    # Paper (block search + channel search) and ShuffleNet-Series OneShot README: 328M, 3.4M.
    space = nasengine.get_space("shufflenet", channel_search=True)
    arch = space.presets()["spos_block_channel_search"]
    blocks = [space.decision(f"block{i}").index(arch.choices[f"block{i}"]) for i in range(20)]
    scale_ids = [space.decision(f"channel{i}").index(arch.choices[f"channel{i}"]) for i in range(20)]
    assert blocks == [0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2]
    assert scale_ids == [6, 5, 3, 5, 2, 6, 3, 4, 2, 5, 7, 5, 4, 6, 7, 4, 4, 5, 4, 3]
    expected = Cost(macs=327_857_920, params=3_432_579)
    assert space.cost(arch) == expected
    assert count_cost(space.build(arch), space.input_shape()) == expected
    assert round(expected.macs / 1e6) == 328 and round(expected.params / 1e5) == 34
    # The block-search preset is expressible here too (every scale 1.0), at the same cost.
    assert space.cost(space.presets()["spos_block_search"]) == Cost(322_918_720, 3_558_464)


def test_presets_only_where_they_fit():
    assert ShuffleNetSpace(**SMALL).presets() == {}
    assert set(ShuffleNetSpace().presets()) == {"spos_block_search"}
    # Scales without 1.2/1.4/1.6 cannot hold the channel-search result.
    narrow = ShuffleNetSpace(channel_search=True, channel_scales=(0.5, 1.0))
    assert set(narrow.presets()) == {"spos_block_search"}
    assert set(ShuffleNetSpace(channel_search=True, channel_scales=(0.5, 0.75)).presets()) == set()


# --- cost ------------------------------------------------------------------------------------
@pytest.mark.parametrize("channel_search", [False, True])
@pytest.mark.parametrize("extra", [{}, {"stem_stride": 2, "stem_pool": True, "bn_affine": False}])
def test_cost_equals_count_cost_on_random_archs(channel_search, extra):
    space = ShuffleNetSpace(**{**SMALL, **extra}, channel_search=channel_search)
    rng = random.Random(1)
    for _ in range(4):
        arch = space.sample(rng)
        assert space.cost(arch) == count_cost(space.build(arch), space.input_shape())


def test_cost_bounds_are_exact():
    tiny = dict(SMALL, stage_repeats=(1, 1), stage_channels=(16, 24), channel_search=True,
                channel_scales=(0.5, 1.5))
    space = ShuffleNetSpace(**tiny)
    assert space.size() == 64
    assert space.cost_bounds() == SearchSpace.cost_bounds(space)  # the enumerating default
    lo, hi = ShuffleNetSpace(channel_search=True).cost_bounds()
    assert lo.macs < 327_857_920 < hi.macs and lo.params < 3_432_579 < hi.params


def test_cost_is_fast():
    space = ShuffleNetSpace(channel_search=True)
    archs = [space.sample(i) for i in range(2000)]
    space.cost(archs[0])  # builds the table
    start = time.perf_counter()
    for a in archs:
        space.cost(a)
    assert 2000 / (time.perf_counter() - start) > 10_000


def test_mid_channels_follow_official_rounding():
    assert mid_channels(64, 0.6) == 19 and mid_channels(640, 1.4) == 448 and mid_channels(160, 0.2) == 16
    space = ShuffleNetSpace(**SMALL, channel_search=True)
    arch = space.sample(3)
    model = space.build(arch)
    for i, (block, scale) in enumerate(space.layer_choice(arch, i) for i in range(space.num_layers)):
        first_pw = model.features[i].candidates[block].branch_main[2 if block == "xception" else 0]
        assert first_pw.out_channels == mid_channels(space.layers[i][1], scale)


# --- networks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("channel_search,bn_affine", [(False, True), (True, True), (True, False)])
def test_inherited_weights_match_supernet_path(channel_search, bn_affine):
    torch.manual_seed(0)
    space = ShuffleNetSpace(**SMALL, channel_search=channel_search, bn_affine=bn_affine)
    net = space.network().eval()
    randomize_batchnorm(net)
    x = torch.randn(2, 3, 32, 32)
    rng = random.Random(7)
    for _ in range(3):
        arch = space.sample(rng)
        model = space.build(arch, from_supernet=net).eval()
        assert set(model.state_dict()) <= set(net.state_dict())
        with torch.no_grad():
            expected = select_path(net, arch)(x)
            torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


def test_supernet_holds_every_candidate():
    space = ShuffleNetSpace(**SMALL, channel_search=True)
    net = space.network()
    assert list(net.features[0].candidates) == ["k3", "k5", "k7", "xception"]
    widest = mid_channels(16, 1.6)
    assert net.features[0].candidates["k7"].branch_main[0].weight.shape[0] == widest
    assert net.features[0].candidates["k7"].branch_main[3].kernel_size == (7, 7)


def test_forward_on_digit_sized_inputs():
    space = nasengine.get_space("shufflenet", input_size=8, in_channels=1, num_classes=10, stem_stride=1,
                                stem_channels=8, stage_channels=(16, 32, 64, 128), last_channels=128, channel_search=True)
    arch = space.sample(0)
    out = space.build(arch)(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10)
    net = select_path(space.network(), arch)
    assert net(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_split_is_the_official_shuffle():
    x = torch.arange(8.0).view(1, 8, 1, 1).expand(2, 8, 3, 3)
    even, odd = split_channels(x)
    # Official: reshape(b*c/2, 2, hw) -> permute -> reshape(2, b, c/2, h, w).
    b, c, h, w = x.shape
    ref = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
    assert torch.equal(even, ref[0]) and torch.equal(odd, ref[1])


# --- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    {"stem_stride": 3}, {"stem_channels": 0}, {"stem_pool": 1}, {"last_channels": -1},
    {"stage_repeats": ()}, {"stage_repeats": (4, 4, 8)}, {"stage_repeats": (4, 0, 8, 4)},
    {"stage_channels": (64, 160, 320, 641)}, {"stage_channels": (16, 160, 320, 640)},
    {"stage_channels": (64, 60, 320, 640)}, {"channel_scales": ()}, {"channel_scales": (1.0, 0.5)},
    {"channel_scales": (0.0, 1.0)}, {"dropout": 1.0}, {"bn_affine": "yes"},
    {"channel_search": True, "stage_channels": (8, 160, 320, 640), "stem_channels": 4},
    {"input_size": 0}, {"unknown_key": 1},
])
def test_bad_configs_raise_value_error(bad):
    with pytest.raises(ValueError):
        nasengine.get_space("shufflenet", **bad)


@pytest.mark.parametrize("bad", [{"stem_pool": 1}, {"bn_affine": "yes"}, {"channel_search": None},
                                 {"stem_stride": True}, {"channel_scales": (0.5, True)}, {"dropout": -0.1}])
def test_direct_config_construction_is_validated(bad):
    with pytest.raises(ValueError):
        ShuffleNetConfig(**bad)


def test_config_coerces_json_values_and_arch_round_trips():
    space = nasengine.get_space("shufflenet", **{**SMALL, "stage_repeats": [1, 1, 2, 1]},
                                channel_search=True, channel_scales=[0.5, 1, 1.5])
    assert isinstance(space.config, ShuffleNetConfig)
    assert space.config.channel_scales == (0.5, 1.0, 1.5)
    arch = space.sample(5)
    assert Arch.from_json(arch.to_json()) == arch
    assert [d.name for d in space.decisions()][:5] == ["block0", "block1", "block2", "block3", "block4"]
    assert space.decision("channel0").kind == "width"


def test_bad_block_option_names_decision_and_options():
    space = ShuffleNetSpace(**SMALL)
    choices = dict(space.sample(0).choices, block2="k9")
    with pytest.raises(ArchError, match=r"block2.*k9.*\['k3', 'k5', 'k7', 'xception'\]"):
        space.arch(choices)
