"""Tests of the NASNet cell space (search_spaces.nas_cell)."""

from __future__ import annotations

import random

import pytest
import torch

import nasengine
from nasengine import ArchError, Cost, count_cost
from nasengine.cost import count_params
from nasengine.nn import select_path
from nasengine.space import SearchSpace
from nasengine.testing.spaces import randomize_batchnorm
from search_spaces.nas_cell import ENAS_OPS, NasCellSpace
from search_spaces.nas_cell.ops import EXTRA_OPS, FactorizedReduce, Pool, SameConv2d, make_op, same_pads

TINY = dict(stem="cifar", input_size=16, filters=8, cells_per_stage=1, num_classes=10)
CONFIGS = {
    "all_ops": dict(TINY, blocks=2),
    "bottleneck": dict(TINY, blocks=2, conv_bottleneck=True, ops=("conv_3x3", "conv_1x3_3x1", "conv_1x7_7x1",
                                                                  "dil_conv_3x3", "identity")),
    "enas": dict(TINY, input_size=32, blocks=3, ops=ENAS_OPS, output_choices=False, first_prev="conv",
                 base_conv=True, classifier_bias=False),
    "concat_odd_size": dict(TINY, input_size=15, blocks=3, combiners=("add", "concat")),
    "imagenet_concat": dict(TINY, stem="imagenet", input_size=33, blocks=2, combiners=("add", "concat")),
    "skip_reduction_input": dict(TINY, cells_per_stage=2, blocks=2, stem_multiplier=1, skip_reduction_input=True),
    "tied_new_ops": dict(TINY, cells_per_stage=[1, 2, 1], blocks=2, tie_cells=True, first_prev="conv",
                         ops=EXTRA_OPS + ("identity",), avg_pool_padding="include_strided"),
}
MOBILE = dict(cells_per_stage=4, filters=44, stem="imagenet", input_size=224, num_classes=1000)


# --- published architectures -----------------------------------------------------------
def test_nasnet_a_mobile_cost_reproduces_reference():
    # Paper Table 2: NASNet-A (4 @ 1056) 5.3M params, 564M mult-adds. Keras NASNetMobile:
    # 5,326,716 params of which 5,289,978 trainable (the rest are BN moving statistics);
    # the Cadene/imgclsmob PyTorch port has 5,289,978 parameters.
    space = nasengine.get_space("nas_cell", **MOBILE)
    arch = space.presets()["nasnet_a"]
    assert space.cost(arch) == Cost(macs=563_638_816, params=5_289_978)
    assert round(space.cost(arch).macs / 1e6) == 564
    model = space.build(arch)
    assert count_params(model) == 5_289_978
    assert model.classifier.in_features == 1056  # "4 @ 1056": 6 states x 176 filters
    assert [c.output_states() for c in model.cells[:3]] == [[3, 4, 5, 6]] * 2 + [[1, 2, 3, 4, 5, 6]]


@pytest.mark.slow
def test_nasnet_a_mobile_fvcore_count_matches():
    space = nasengine.get_space("nas_cell", **MOBILE)
    arch = space.presets()["nasnet_a"]
    assert count_cost(space.build(arch), space.input_shape()) == Cost(macs=563_638_816, params=5_289_978)


def test_nasnet_a_large_reproduces_reference():
    # Paper: NASNet-A (6 @ 4032) 88.9M params, 23.8B mult-adds. Keras NASNetLarge trainable
    # params and timm's nasnetalarge: 88,753,150 (slim large config: F=168, stem x3, 331px,
    # skip_reduction_layer_input=1).
    space = nasengine.get_space(
        "nas_cell", cells_per_stage=6, filters=168, stem_multiplier=3.0, input_size=331, skip_reduction_input=True
    )
    arch = space.presets()["nasnet_a"]
    cost = space.cost(arch)
    assert cost.params == 88_753_150
    assert round(cost.macs / 1e8) == 238
    with torch.device("meta"):
        assert count_params(space.build(arch)) == 88_753_150


def test_nasnet_a_cifar_reproduces_paper():
    # Paper Table 1: NASNet-A (6 @ 768) on CIFAR-10, 3.3M params (slim cifar config: F=32, stem x3).
    space = nasengine.get_space("nas_cell", cells_per_stage=6, filters=32, stem="cifar", input_size=32, num_classes=10)
    cost = space.cost(space.presets()["nasnet_a"])
    assert cost == Cost(macs=544_333_312, params=3_346_538)
    assert round(cost.params / 1e5) == 33


def test_presets_apply_only_where_expressible():
    assert set(NasCellSpace(**TINY).presets()) == {"nasnet_a", "pnasnet_5", "amoebanet_a", "enas_micro"}
    assert NasCellSpace(**TINY, blocks=4).presets() == {}  # DARTS also needs dil_sep_conv_3x3
    assert set(NasCellSpace(**TINY, ops=ENAS_OPS).presets()) == {"enas_micro"}  # no sep_conv_7x7
    assert set(NasCellSpace(**TINY, output_choices=False).presets()) == {"enas_micro"}  # the rest need "always"
    assert set(NasCellSpace(**TINY, tie_cells=True).presets()) == {"pnasnet_5"}  # one cell for both kinds
    # With concat searchable the preset picks add everywhere: the same network, same cost.
    both, plain = NasCellSpace(**TINY, combiners=("add", "concat")), NasCellSpace(**TINY)
    assert both.cost(both.presets()["nasnet_a"]) == plain.cost(plain.presets()["nasnet_a"])


# --- exact cost --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cost_equals_fvcore_count(name):
    space = nasengine.get_space("nas_cell", **CONFIGS[name])
    rng = random.Random(name)
    for _ in range(3):
        arch = space.sample(rng)
        assert space.cost(arch) == count_cost(space.build(arch), space.input_shape()), arch.choices


def test_pass_through_of_an_f_wide_previous_input():
    # Cells whose only output is their last block are F wide; a cell reading such an output
    # (or an F-wide stem) as its previous-previous input at the same resolution uses it
    # without a 1x1 conv, as slim does.
    space = NasCellSpace(**CONFIGS["skip_reduction_input"])  # cells: n n r n n r n n
    choices = dict(space.sample(0).choices)
    for kind in ("normal", "reduction"):
        choices.update({f"{kind}.b0.in0": 0, f"{kind}.b0.in1": 1, f"{kind}.b1.in0": 2, f"{kind}.b1.in1": 2})
        choices.update({f"{kind}.out{s}": "if_unused" for s in range(3)})
    arch = space.arch(choices)
    model = space.build(arch)
    assert [c.pre1 is None for c in model.cells] == [True, True, False, False, True, False, False, True]
    assert space.cost(arch) == count_cost(model, space.input_shape())
    wider = space.arch({**choices, "reduction.out0": "always"})  # reduction output 2F wide
    assert space.build(wider).cells[4].pre1 is not None
    assert space.cost(wider) == count_cost(space.build(wider), space.input_shape())


def test_cost_builds_no_module_once_its_tables_exist(monkeypatch):
    # Its speed is measured by `nasengine bench cost` (reports/bench/cost.json); here: that
    # costing an arch is table lookups (each unit is counted once), not a network built.
    space = nasengine.get_space("nas_cell", **MOBILE)
    archs = [space.sample(seed) for seed in range(300)]
    expected = [space.cost(arch) for arch in archs]  # fills the tables

    def no_module(*args, **kwargs):
        raise AssertionError("a module was built to cost an arch")

    monkeypatch.setattr(torch.nn.Module, "__init__", no_module)
    assert [space.cost(arch) for arch in archs] == expected


@pytest.mark.parametrize(
    "extra",
    [
        dict(blocks=1, ops=("identity", "sep_conv_3x3"), combiners=("add", "concat")),
        dict(blocks=1, ops=("max_pool_3x3", "conv_1x1"), combiners=("add", "concat"), output_choices=False,
             stem="imagenet", input_size=35),
        dict(blocks=2, ops=("identity",), combiners=("add", "concat"), output_choices=False),
        dict(blocks=1, ops=("identity", "avg_pool_3x3"), combiners=("concat",), stem="imagenet", input_size=35),
        dict(blocks=2, ops=("zero", "dil_sep_conv_3x3"), tie_cells=True, first_prev="conv"),
    ],
)
def test_cost_bounds_equal_enumeration(extra):
    space = NasCellSpace(**{**TINY, **extra})
    assert space.size() <= 21_000
    assert space.cost_bounds() == SearchSpace.cost_bounds(space)  # base class enumerates


def test_cost_bounds_contain_presets_and_samples():
    space = nasengine.get_space("nas_cell", **MOBILE)
    low, high = space.cost_bounds()
    for arch in [space.presets()["nasnet_a"], *(space.sample(s) for s in range(200))]:
        cost = space.cost(arch)
        assert low.macs <= cost.macs <= high.macs and low.params <= cost.params <= high.params


# --- networks ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_inherited_weights_reproduce_supernet_path(name):
    space = nasengine.get_space("nas_cell", **CONFIGS[name])
    net = space.network().eval()
    randomize_batchnorm(net)
    x = torch.randn(space.input_shape(batch=2))
    rng = random.Random(name)
    for arch in [space.sample(rng), space.sample(rng), *space.presets().values()]:
        model = space.build(arch, from_supernet=net).eval()
        assert set(model.state_dict()) <= set(net.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(model(x), select_path(net, arch)(x), rtol=1e-5, atol=1e-6)


def test_supernet_trains_one_path():
    space = NasCellSpace(**CONFIGS["concat_odd_size"])
    net = space.network().train()
    select_path(net, space.sample(3))
    loss = net(torch.randn(space.input_shape(batch=4))).logsumexp(1).mean()
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("stem, size", [("cifar", 8), ("imagenet", 32)])
def test_forward_on_small_inputs(stem, size):
    space = NasCellSpace(stem=stem, input_size=size, in_channels=1, num_classes=10, filters=8, cells_per_stage=1)
    out = space.build(space.sample(0)).eval()(torch.randn(2, 1, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


# --- TensorFlow-exact pieces ---------------------------------------------------------------
def test_same_padding_puts_the_extra_pixel_bottom_right():
    x = torch.zeros(1, 1, 4, 5)
    assert same_pads(x, 3, 2) == (1, 1, 0, 1)  # width 5: symmetric; height 4: bottom only
    assert same_pads(x, 3, 1) == (1, 1, 1, 1)
    assert same_pads(x, 3, 1, 2) == (2, 2, 2, 2)  # dilated 3x3 spans 5


@pytest.mark.parametrize("size", [7, 8])
def test_same_conv_and_max_pool_match_timm_tf_same(size):
    from timm.layers import create_conv2d, create_pool2d  # an independent TF-"SAME" port

    x = torch.randn(2, 4, size, size)
    for kernel, stride, dilation in ((3, 2, 1), (5, 2, 1), (7, 2, 1), (3, 1, 2)):
        ref = create_conv2d(4, 6, kernel, stride=stride, dilation=dilation, padding="same")
        mine = SameConv2d(4, 6, kernel, stride, dilation=dilation)
        mine.weight.data.copy_(ref.weight.data)
        torch.testing.assert_close(mine(x), ref(x))
    assert torch.equal(Pool("max", 3, 2)(x), create_pool2d("max", 3, 2, padding="same")(x))


def test_pooling_ignores_padding():
    ones = torch.ones(1, 2, 6, 6)
    torch.testing.assert_close(Pool("avg", 3, 2)(ones), torch.ones(1, 2, 3, 3))
    torch.testing.assert_close(Pool("avg", 3, 1)(ones), torch.ones(1, 2, 6, 6))
    assert (Pool("max", 3, 2)(-ones) == -1).all()


def test_factorized_reduction_halves_odd_sizes_and_odd_widths():
    out = FactorizedReduce(6, 11, 2, relu=True)(torch.randn(2, 6, 7, 7))
    assert out.shape == (2, 11, 4, 4)


def test_ops_project_only_when_needed():
    assert make_op("identity", 8, 8, 1).proj is None
    assert make_op("identity", 8, 8, 2).proj is not None
    assert make_op("max_pool_3x3", 8, 8, 2).proj is None
    assert make_op("avg_pool_3x3", 16, 8, 1)(torch.randn(1, 16, 5, 5)).shape == (1, 8, 5, 5)
    assert make_op("conv_1x7_7x1", 4, 8, 2)(torch.randn(1, 4, 9, 9)).shape == (1, 8, 5, 5)


# --- validation --------------------------------------------------------------------------
def test_decision_names_and_options():
    space = NasCellSpace(**TINY, blocks=3, combiners=("add", "concat"))
    names = [d.name for d in space.decisions()]
    assert names[:5] == ["normal.b0.in0", "normal.b0.in1", "normal.b0.op0", "normal.b0.op1", "normal.b0.comb"]
    assert space.decision("reduction.b2.in1").options == (0, 1, 2, 3)
    assert space.decision("normal.out3").options == ("if_unused", "always")
    assert "normal.out4" not in names  # the last block is never read: always in the output
    assert len(NasCellSpace(**TINY, output_choices=False).decisions()) == 2 * 5 * 4


def test_invalid_input_index_names_decision_and_options():
    space = NasCellSpace(**TINY)
    choices = dict(space.sample(0).choices, **{"normal.b1.in0": 5})
    with pytest.raises(ArchError, match=r"normal\.b1\.in0.*\[0, 1, 2\]"):
        space.arch(choices)


@pytest.mark.parametrize(
    "bad, needle",
    [
        (dict(stem="mobile"), "stem"),
        (dict(filters=2), "filters"),
        (dict(cells_per_stage=0), "cells_per_stage"),
        (dict(blocks=0), "blocks"),
        (dict(blocks=7), "blocks"),
        (dict(ops=("conv_9x9",)), "conv_9x9"),
        (dict(ops=()), "ops"),
        (dict(ops=("identity", "identity")), "repeated"),
        (dict(combiners=("mul",)), "mul"),
        (dict(stem_multiplier=0), "stem_multiplier"),
        (dict(output_choices="yes"), "output_choices"),
        (dict(dropout=1.0), "dropout"),
        (dict(base_conv="yes"), "base_conv"),
        (dict(classifier_bias="no"), "classifier_bias"),
        (dict(conv_bottleneck=1), "conv_bottleneck"),
        (dict(stem="imagenet", input_size=2), "input_size"),
        (dict(kernel=3), "unknown config key"),
    ],
)
def test_bad_configs_raise_value_error(bad, needle):
    with pytest.raises(ValueError, match=needle):
        nasengine.get_space("nas_cell", **{**TINY, **bad})
