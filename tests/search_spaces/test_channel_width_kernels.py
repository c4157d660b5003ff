"""The channel-width space's elastic kernels (``kernels=[1, 3]`` and the like)."""

from __future__ import annotations

import pytest
import torch

import nasengine
from nasengine.cost import count_cost
from nasengine.nn import select_path
from search_spaces.channel_width import ChannelWidthSpace

SMALL = dict(backbone="small", input_size=16, in_channels=1, num_classes=10, widths=(0.25, 1.0), rounding="floor")


def _space(**config) -> ChannelWidthSpace:
    return nasengine.get_space("channel_width", **config)


def test_kernel_decisions_follow_the_widths_and_name_each_conv() -> None:
    space = _space(**SMALL, kernels=[1, 3])
    names = [d.name for d in space.decisions()]
    assert names[:7] == ["stem", "layer1_0_mid", "layer1_out", "layer2_0_mid", "layer2_out", "layer3_0_mid", "layer3_out"]
    assert names[7:] == [f"layer{s}_0_conv{n}_kernel" for s in (1, 2, 3) for n in (1, 2)]
    assert {d.kind for d in space.decisions()[7:]} == {"kernel"}
    assert space.size() == 2 ** 13
    bottleneck = _space(backbone="resnet50", input_size=32, num_classes=10, kernels=[1, 3, 5])
    kernels = [d for d in bottleneck.decisions() if d.kind == "kernel"]
    assert len(kernels) == 16 and kernels[0].name == "layer1_0_conv2_kernel" and kernels[0].options == (1, 3, 5)


def test_without_kernels_the_config_and_ids_are_unchanged() -> None:
    plain, searched = _space(**SMALL), _space(**SMALL, kernels=[1, 3])
    assert "kernels" not in plain.config.to_dict() and searched.config.to_dict()["kernels"] == (1, 3)
    assert all(d.kind == "width" for d in plain.decisions())
    widths = {d.name: 1.0 for d in plain.decisions()}
    full = searched.arch({**widths, **{d.name: 3 for d in searched.decisions()[7:]}})
    assert searched.cost(full) == plain.cost(plain.arch(widths))


@pytest.mark.parametrize("kernel", [1, 3])
def test_cost_is_exact_for_uniform_and_mixed_kernels(kernel: int) -> None:
    space = _space(**SMALL, kernels=[1, 3])
    rng = torch.Generator().manual_seed(kernel)
    for _ in range(4):
        choices = {d.name: d.options[int(torch.randint(len(d.options), (1,), generator=rng))] for d in space.decisions()}
        for uniform in (False, True):
            if uniform:
                choices.update({d.name: kernel for d in space.decisions() if d.kind == "kernel"})
            arch = space.arch(choices)
            assert space.cost(arch) == count_cost(space.build(arch), space.input_shape()), choices


def test_a_1x1_conv_in_the_supernet_is_the_centre_of_its_3x3() -> None:
    space = _space(**SMALL, kernels=[1, 3])
    supernet = space.network().eval()
    arch = space.arch({d.name: (1 if d.kind == "kernel" else 1.0) for d in space.decisions()})
    model = space.build(arch, from_supernet=supernet).eval()
    assert model.layer2[0].conv1.weight.shape[-2:] == (1, 1)
    torch.testing.assert_close(model.layer2[0].conv1.weight, supernet.layer2[0].conv1.weight[:, :, 1:2, 1:2])
    x = torch.randn(space.input_shape(batch=2))
    with torch.no_grad():
        torch.testing.assert_close(model(x), select_path(supernet, arch)(x))


def test_latency_units_time_every_kernel() -> None:
    space = _space(**SMALL, kernels=[1, 3])
    keys = {u.key for u in space.latency_units()}
    assert "cb:64>64:k1:s1:4" in keys and "cb:64>64:k3:s1:4" in keys and "cb:16>64:k3:s1:4" in keys
    arch = space.sample(0)
    chosen = [u.key for u in space.latency_units(arch) if u.key.startswith("cb:") and ":s1:4" in u.key]
    assert chosen == [f"cb:{space.build(arch).layer3[0].conv2.in_channels}>{space.build(arch).layer3[0].conv2.out_channels}"
                      f":k{arch.choices['layer3_0_conv2_kernel']}:s1:4"]


def test_a_pruningnet_refuses_kernel_decisions() -> None:
    from supernet.pruningnet import PruningNet

    with pytest.raises(ValueError, match="layer1_0_conv1_kernel"):
        PruningNet(_space(**SMALL, kernels=[1, 3]))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (dict(kernels=[2, 3]), r"kernel 2 is not allowed; kernels must be among \[1, 3, 5, 7\]"),
        (dict(kernels=[3, 1]), "strictly increasing"),
        (dict(kernels=[1, 5]), "must include 3"),
        (dict(kernels=[1, True]), "kernel True is not allowed"),
        (dict(kernels=3), "kernels must be a list"),
        (dict(backbone="mobilenet_v2", kernels=[1, 3]), "'small' or 'resnet50', not 'mobilenet_v2'"),
    ],
)
def test_invalid_kernels_raise_value_error(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _space(**{**SMALL, **config})


def test_spos_path_selection_switches_kernels_too() -> None:
    from supernet.spos import PathSelector

    space = _space(**SMALL, kernels=[1, 3])
    supernet = space.network()
    arch = space.arch({d.name: (1 if d.kind == "kernel" else 0.25) for d in space.decisions()})
    PathSelector(supernet)(supernet, arch)
    convs = [supernet.layer1[0].conv1, supernet.layer3[0].conv2]
    assert [(c.active_kernel, c.active_out) for c in convs] == [(1, 4), (1, 16)]
