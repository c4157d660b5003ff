from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasengine.nn import (
    ChoiceOp,
    ElasticBatchNorm2d,
    ElasticConv2d,
    InputChoice,
    conv_out_size,
    inherit_weights,
    select_path,
)


def test_elastic_conv_equals_a_plain_conv_with_the_leading_weights():
    elastic = ElasticConv2d(8, 16, 3, padding=1, decision="w", widths={"half": 8, "full": 16})
    select_path(elastic, {"w": "half"})
    x = torch.randn(2, 5, 6, 6)  # input side follows x: 5 of 8 channels
    plain = nn.Conv2d(5, 8, 3, padding=1)
    inherit_weights(plain, elastic)
    torch.testing.assert_close(elastic(x), plain(x))
    assert torch.equal(plain.weight, elastic.weight[:8, :5])


def test_elastic_depthwise_follows_the_input():
    dw = ElasticConv2d(8, 8, 3, padding=1, groups=8)
    assert dw(torch.randn(1, 3, 4, 4)).shape == (1, 3, 4, 4)


def test_elastic_bn_updates_only_the_active_slice():
    bn = ElasticBatchNorm2d(8).train()
    bn(torch.randn(4, 3, 5, 5) + 10)
    assert (bn.running_mean[:3] > 0.5).all() and (bn.running_mean[3:] == 0).all()
    bn.eval()
    full = nn.BatchNorm2d(3).eval()
    inherit_weights(full, bn)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(bn(x), full(x))


def test_choice_op_and_input_choice_need_a_selection():
    op = ChoiceOp("op", {"a": nn.Identity(), "b": nn.ReLU()})
    with pytest.raises(RuntimeError, match="select_path"):
        op(torch.zeros(1))
    select_path(op, {"op": "b"})
    assert op(torch.tensor([-1.0])).item() == 0.0
    with pytest.raises(KeyError, match="'c' is not a candidate"):
        op.select("c")
    pick = InputChoice("in", 3)
    pick.select(2)
    assert pick([torch.zeros(1), torch.ones(1), torch.full((1,), 2.0)]).item() == 2.0
    with pytest.raises(KeyError, match="out of range"):
        pick.select(3)


def test_select_path_requires_every_decision():
    with pytest.raises(KeyError, match="decision 'op'"):
        select_path(ChoiceOp("op", {"a": nn.Identity(), "b": nn.ReLU()}), {"other": 1})


def test_option_values_with_dots_are_safe_keys():
    op = ChoiceOp("w", {0.5: nn.Identity(), 1.0: nn.ReLU()})
    op.select(0.5)
    assert "candidates.0_5" in dict(op.named_modules(prefix=""))


def test_inherit_weights_rejects_mismatched_networks():
    with pytest.raises(KeyError, match="no tensor"):
        inherit_weights(nn.Sequential(nn.Linear(2, 2)), nn.Sequential(nn.Identity(), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="cannot cover"):
        inherit_weights(nn.Linear(4, 4), nn.Linear(2, 2))


@pytest.mark.parametrize("kernel,stride,padding", [(1, 1, None), (3, 2, None), (5, 2, None), (7, 2, 3), (3, 2, 0)])
def test_conv_out_size_is_the_size_a_conv_produces(kernel, stride, padding):
    for size in (7, 8, 15):
        pad = kernel // 2 if padding is None else padding
        out = nn.Conv2d(1, 1, kernel, stride, pad)(torch.zeros(1, 1, size, size))
        assert conv_out_size(size, kernel, stride, padding) == out.shape[-1]


def test_elastic_kernel_runs_the_centre_of_the_allocated_kernel():
    conv = ElasticConv2d(3, 4, 5, 2, 2, bias=False, kernel_decision="k", kernels={1: 1, 3: 3, 5: 5})
    x = torch.randn(2, 3, 9, 9)
    for value, k in [(1, 1), (3, 3), (5, 5)]:
        conv.select_kernel(value)
        trim = (5 - k) // 2
        expected = F.conv2d(x, conv.weight[:, :, trim:trim + k, trim:trim + k], None, 2, k // 2)
        torch.testing.assert_close(conv(x), expected)
        assert conv(x).shape == (2, 4, 5, 5)  # "same" padding keeps the size for every kernel


def test_elastic_kernel_refuses_even_or_oversized_kernels():
    with pytest.raises(ValueError, match=r"kernels \[2, 3\] must be odd"):
        ElasticConv2d(3, 4, 3, kernel_decision="k", kernels={2: 2, 3: 3})
    with pytest.raises(ValueError, match="at most the square kernel"):
        ElasticConv2d(3, 4, 3, kernel_decision="k", kernels={5: 5})


def test_select_path_sets_width_and_kernel_of_one_conv():
    conv = ElasticConv2d(3, 8, 3, padding=1, bias=False, decision="w", widths={0.5: 4, 1.0: 8},
                         kernel_decision="k", kernels={1: 1, 3: 3})
    net = nn.Sequential(conv)
    with pytest.raises(KeyError, match="decision 'k'"):
        select_path(net, {"w": 0.5})
    select_path(net, {"w": 0.5, "k": 1})
    assert (conv.active_out, conv.active_kernel) == (4, 1)


def test_inherit_weights_takes_the_centre_of_a_larger_kernel():
    big = nn.Sequential(nn.Conv2d(2, 3, 5, bias=False))
    small = nn.Sequential(nn.Conv2d(2, 2, 3, bias=False))
    inherit_weights(small, big)
    torch.testing.assert_close(small[0].weight, big[0].weight[:2, :, 1:4, 1:4])
