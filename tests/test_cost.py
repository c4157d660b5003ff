from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nasengine import Cost, count_cost, trace_cost
from nasengine.cost import human, parse_amount


def test_count_cost_reproduces_torchvision_published_figures():
    # torchvision's model table: MobileNetV2 0.30 GFLOPs / 3.5M params (multiply-adds).
    cost = count_cost(torchvision.models.mobilenet_v2(), (1, 3, 224, 224))
    assert cost == Cost(macs=300_774_272, params=3_504_872)


def test_trace_cost_agrees_with_fvcore_on_a_real_network():
    model = torchvision.models.resnet18(num_classes=10)
    assert trace_cost(model, (1, 3, 64, 64)) == count_cost(model, (1, 3, 64, 64))


def test_counts_only_conv_and_linear_and_divides_by_batch():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, groups=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    expected = 8 * 8 * 4 * 3 * 9 + 8 * 8 * 4 * 9 + 64 * 5
    assert count_cost(model, (4, 3, 8, 8)).macs == expected
    assert trace_cost(model, (4, 3, 8, 8)).macs == expected
    assert count_cost(model, (3, 8, 8)).params == sum(p.numel() for p in model.parameters())


def test_shared_parameters_are_counted_once():
    lin = nn.Linear(4, 4)
    assert count_cost(nn.Sequential(lin, lin), (1, 4)).params == 20


def test_trace_cost_leaves_the_model_untouched():
    model = nn.Conv2d(1, 2, 3)
    before = model.weight.clone()
    trace_cost(model, (1, 1, 5, 5))
    assert model.weight.device.type == "cpu" and torch.equal(model.weight, before)


def test_cost_arithmetic_and_formatting():
    assert Cost(3, 4) + Cost(1, 1) - Cost(2, 2) == Cost(2, 3)
    assert human(564_191_000) == "564.191M" and human(950) == "950"


@pytest.mark.parametrize("text, value", [("300M", 3e8), ("3.5m", 3.5e6), ("2K", 2e3), ("1.2G", 1.2e9), ("42", 42.0)])
def test_parse_amount(text, value):
    assert parse_amount(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "-3M", "M"])
def test_parse_amount_rejects_garbage(text):
    with pytest.raises(ValueError, match="amount|negative"):
        parse_amount(text)
