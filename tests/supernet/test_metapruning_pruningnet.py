"""Tests of the PruningNet: generated and cropped weights, per-width BatchNorm, export."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import nasengine
from nasengine.arch import ArchError
from nasengine.nn import ElasticConv2d
from nasengine.testing.spaces import randomize_batchnorm
from supernet.pruningnet import PruningNet, PruningNetConfig
from supernet.pruningnet_blocks import ChoiceBatchNorm2d, GeneratedConv2d

SMALL = dict(backbone="small", input_size=8, in_channels=1, num_classes=10, rounding="floor")
CONFIGS = [
    SMALL,
    dict(backbone="small", input_size=8, in_channels=1, num_classes=10, stage_repeats=(2, 1, 1)),
    dict(backbone="mobilenet_v2", input_size=32, num_classes=10),
    dict(backbone="resnet50", input_size=32, num_classes=10, widths=(0.5, 1.0)),
]


def _space(**config):
    return nasengine.get_space("channel_width", **config)


def _net(config: dict, hidden: int = 4) -> PruningNet:
    torch.manual_seed(0)
    return PruningNet(_space(**config), hidden=hidden)


def test_generated_weight_is_the_leading_slice_of_the_full_tensor() -> None:
    conv = GeneratedConv2d(6, 8, 3, padding=1, hidden=5, decision="d", widths={"0_5": 4, "1_0": 8})
    full = conv.full_weight(3, 4)
    assert full.shape == (8, 6, 3, 3)
    cropped = conv.weight_for(3, 4)
    assert cropped.shape == (4, 3, 3, 3)
    torch.testing.assert_close(cropped, full[:4, :3], rtol=0, atol=0)
    # The tensor depends on the encoding: other widths give other leading weights.
    assert not torch.allclose(conv.weight_for(6, 8)[:4, :3], cropped)
    conv.select(0.5)
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, cropped, padding=1))
    with pytest.raises(ValueError, match="exceed"):
        conv.weight_for(7, 8)
    with pytest.raises(KeyError, match="0.75"):
        conv.select(0.75)


def test_depthwise_weight_follows_its_input() -> None:
    conv = GeneratedConv2d(12, 12, 3, padding=1, depthwise=True, hidden=3)
    w = conv.weight_for(5, 12)
    assert w.shape == (5, 1, 3, 3)
    torch.testing.assert_close(w, conv.full_weight(5, 5)[:5], rtol=0, atol=0)
    assert conv(torch.randn(1, 5, 4, 4)).shape == (1, 5, 4, 4)
    with pytest.raises(ValueError, match="depthwise"):
        GeneratedConv2d(4, 8, 3, depthwise=True)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c["backbone"] + str(c.get("stage_repeats", "")))
def test_generated_shapes_match_the_standalone_network(config: dict) -> None:
    net = _net(config, hidden=1 if config["backbone"] == "resnet50" else 4)
    space = net.space
    arch = space.sample(3)
    net.set_arch(arch)
    standalone = space.build(arch)
    state = net.weights_for(arch)
    reference = standalone.state_dict()
    assert state.keys() == reference.keys()
    assert all(state[k].shape == reference[k].shape for k in state)
    for name, m in net.net.named_modules():
        if isinstance(m, GeneratedConv2d):
            target = standalone.get_submodule(name)
            w = m.weight_for(target.in_channels, target.out_channels)
            torch.testing.assert_close(state[f"{name}.weight"], w, rtol=0, atol=0)
            full = m.full_weight(target.in_channels, target.out_channels)
            torch.testing.assert_close(w, full[: w.shape[0], : w.shape[1]], rtol=0, atol=0)


def test_every_conv_and_batchnorm_is_replaced() -> None:
    net = _net(CONFIGS[2])
    assert not any(isinstance(m, ElasticConv2d) for m in net.modules())
    plain = [n for n, m in net.net.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and ".norms." not in n]
    assert plain == []
    assert sum(isinstance(m, GeneratedConv2d) for m in net.modules()) == 52  # torchvision's 52 convs


@pytest.mark.parametrize("config", CONFIGS[:3], ids=lambda c: c["backbone"] + str(c.get("stage_repeats", "")))
def test_export_computes_what_the_pruningnet_computes(config: dict) -> None:
    net = _net(config)
    randomize_batchnorm(net)
    net.eval()
    x = torch.randn(net.space.input_shape(batch=3))
    for seed in range(3):
        arch = net.space.sample(seed)
        net.set_arch(arch)
        model = net.export(arch)
        assert not model.training
        with torch.no_grad():
            torch.testing.assert_close(model(x), net(x), rtol=1e-5, atol=1e-6)


def test_export_in_training_mode_matches_too() -> None:
    net = _net(SMALL).train()
    x = torch.randn(net.space.input_shape(batch=8))
    arch = net.space.sample(5)
    net.set_arch(arch)
    model = net.export(arch)
    assert model.training
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x), rtol=1e-5, atol=1e-6)


def test_per_width_batchnorm_selects_the_module_of_the_chosen_width() -> None:
    net = _net(SMALL).train()
    space = net.space
    arch = space.arch({**space.sample(0).choices, "layer2_0_mid": 0.25, "layer2_out": 0.75})
    net.set_arch(arch)
    standalone = space.build(arch)
    net(torch.randn(space.input_shape(batch=4)))
    for name, m in net.net.named_modules():
        if isinstance(m, ChoiceBatchNorm2d):
            used = standalone.get_submodule(name).num_features
            for c, norm in m.norms.items():
                assert int(norm.num_batches_tracked) == (1 if int(c) == used else 0), (name, c, used)
    bn = net.net.get_submodule("layer2.0.bn1")
    assert bn.channels == (8, 12, 16, 20, 24, 28, 32)  # floor(32 * w) for the eighths 0.25..1
    assert bn.norm_for(8) is bn.norms["8"]
    with pytest.raises(KeyError, match="no BatchNorm for 9 channels"):
        bn.norm_for(9)


def test_options_rounding_to_one_width_share_one_batchnorm() -> None:
    net = _net(dict(SMALL, rounding="make_divisible"))
    bn = net.net.get_submodule("bn1")  # stem of 16 channels: 0.25..0.5 -> 8, the rest -> 16
    assert bn.channels == (8, 16)


def test_gradients_reach_every_generator() -> None:
    net = _net(SMALL).train()
    net.set_arch(net.space.sample(1))
    x, y = torch.randn(net.space.input_shape(batch=8)), torch.randint(0, 10, (8,))
    F.cross_entropy(net(x), y).backward()
    generators = net.generated()
    assert len(generators) == sum(isinstance(m, ElasticConv2d) for m in net.space.network().modules())
    for m in generators:
        for p in (m.fc1.weight, m.fc2.weight, m.fc2.bias):
            assert p.grad is not None and p.grad.abs().sum() > 0


def test_training_with_random_encodings_lowers_the_loss() -> None:
    net = _net(SMALL).train()
    space = net.space
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(space.input_shape(batch=32), generator=gen), torch.randint(0, 10, (32,), generator=gen)
    probe = [space.sample(100 + i) for i in range(4)]

    def probe_loss() -> float:
        with torch.no_grad():
            total = 0.0
            for arch in probe:
                net.set_arch(arch)
                total += F.cross_entropy(net(x), y).item()
            return total / len(probe)

    before = probe_loss()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for step in range(60):
        net.set_arch(space.sample(step))
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert probe_loss() < 0.5 * before


def test_encoding_is_the_normalised_width_vector() -> None:
    net = _net(SMALL)
    space = net.space
    arch = space.arch({d.name: 0.5 for d in space.decisions()} | {"stem": 0.25})
    with pytest.raises(RuntimeError, match="set_arch"):
        net.encoding()
    net.set_arch(arch)
    expected = torch.tensor([0.25] + [0.5] * (len(space.decisions()) - 1))
    torch.testing.assert_close(net.encoding(), expected)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="hidden"):
        PruningNetConfig(hidden=0)
    with pytest.raises(ValueError, match="all widths"):
        PruningNet(nasengine.get_space("shufflenet", input_size=8, num_classes=10))
    net = _net(SMALL)
    with pytest.raises(ArchError, match="stem"):
        net.set_arch({**net.space.sample(0).choices, "stem": 0.3})
