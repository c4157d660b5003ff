"""Pruning keeps networks consistent and counts MACs as fvcore does."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from nasengine.compress import PruningError, kept_channels, prunable_layers, prune_to_ratios, pruned_cost
from nasengine.cost import count_cost

MODELS = {
    "resnet18": lambda: torchvision.models.resnet18(num_classes=10),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(num_classes=10),
    "mobilenetv3_small_050": lambda: timm.create_model("mobilenetv3_small_050", num_classes=10),
}


def _trained_like(model: nn.Module) -> nn.Module:
    """Random BN statistics, so that every channel matters (fresh BNs are identities)."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("name", MODELS)
def test_nothing_pruned_is_the_source(name):
    model = _trained_like(MODELS[name]())
    x = torch.randn(2, 3, 32, 32)
    layers = prunable_layers(model, x)
    same = prune_to_ratios(model, x, {layer.name: 1.0 for layer in layers}, selection="l1")
    with torch.no_grad():
        assert torch.equal(same(x), model(x))


@pytest.mark.parametrize("selection", ["first", "l1"])
@pytest.mark.parametrize("name", MODELS)
def test_pruned_networks_run_export_and_count_as_fvcore(name, selection, tmp_path):
    model = _trained_like(MODELS[name]())
    x = torch.randn(2, 3, 32, 32)
    layers = prunable_layers(model, x)
    pruned = prune_to_ratios(model, x, {layer.name: 0.5 for layer in layers}, selection=selection)
    after = {n: m for n, m in pruned.named_modules()}
    for layer in layers:  # physically smaller: the modules themselves lost channels
        module = after[layer.name]
        width = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
        assert width == kept_channels(0.5, layer.out_channels)
    source_cost, cost = count_cost(model, x.shape), count_cost(pruned, x.shape)
    assert cost.macs < 0.5 * source_cost.macs and cost.params < source_cost.params
    program = torch.export.export(pruned, (x,))
    torch.export.save(program, tmp_path / "model.pt2")
    with torch.no_grad():
        assert torch.allclose(torch.export.load(tmp_path / "model.pt2").module()(x), pruned(x), atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_lasso_with_reconstruction_keeps_residual_and_depthwise_networks_consistent(name):
    model = _trained_like(MODELS[name]())
    x = torch.randn(2, 3, 16, 16)
    ratios = {layer.name: 0.5 for layer in prunable_layers(model, x) if not layer.residual}
    calibration = [torch.randn(8, 3, 16, 16)]
    pruned = prune_to_ratios(model, x, ratios, selection="lasso", calibration=calibration, reconstruct=True)
    with torch.no_grad():
        assert pruned(x).shape == (2, 10) and torch.isfinite(pruned(x)).all()
    assert count_cost(pruned, x.shape) == pruned_cost(model, x, ratios)


def test_residual_depthwise_and_gates_are_grouped():
    resnet = {layer.name: layer for layer in prunable_layers(MODELS["resnet18"](), (1, 3, 32, 32))}
    assert resnet["conv1"].residual and "layer1.0.conv2" in resnet["conv1"].coupled
    assert not resnet["layer1.0.conv1"].residual and resnet["layer1.0.conv1"].consumers == ("layer1.0.conv2",)
    assert "fc" not in resnet  # the output layer keeps its classes
    mobile = {layer.name: layer for layer in prunable_layers(MODELS["mobilenet_v2"](), (1, 3, 32, 32))}
    expand = mobile["features.2.conv.0.0"]
    assert "features.2.conv.1.0" in expand.coupled and expand.consumers == ("features.2.conv.2",)
    assert not any(layer.depthwise for layer in mobile.values())  # depthwise layers follow their producers


def test_channel_rounding_and_bad_ratios():
    assert [kept_channels(r, 10) for r in (1.0, 0.55, 0.54, 0.01)] == [10, 6, 5, 1]
    model = MODELS["resnet18"]()
    with pytest.raises(PruningError, match="not prunable"):
        prune_to_ratios(model, (1, 3, 32, 32), {"fc": 0.5})
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        prune_to_ratios(model, (1, 3, 32, 32), {"conv1": 0.0})
    with pytest.raises(PruningError, match="calibration"):
        prune_to_ratios(model, (1, 3, 32, 32), {"conv1": 0.5}, selection="lasso")
