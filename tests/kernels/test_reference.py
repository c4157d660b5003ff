"""The PyTorch reference agrees with the modules it stands for."""

from __future__ import annotations

import torch
from torch import nn

from nasengine.kernels import reference


def test_epilogue_equals_batchnorm_relu_and_prefix_mask():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(6, momentum=0.2)
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.normal_(bn.bias)
    y, widths = torch.randn(4, 6, 3, 3), torch.tensor([6, 0, 2, 5])
    mask = torch.arange(6)[None, :, None, None] < widths[:, None, None, None]
    stats = (bn.running_mean.clone(), bn.running_var.clone())
    out = reference.prefix_epilogue(y, widths, weight=bn.weight, bias=bn.bias, running_mean=stats[0],
                                    running_var=stats[1], training=True, momentum=0.2)
    expected = torch.relu(bn.train()(y)) * mask
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(stats[0], bn.running_mean)
    torch.testing.assert_close(stats[1], bn.running_var)
    out = reference.prefix_epilogue(y, widths, weight=bn.weight, bias=bn.bias, running_mean=stats[0],
                                    running_var=stats[1])
    torch.testing.assert_close(out, torch.relu(bn.eval()(y)) * mask)
    scale, shift = reference.bn_scale_shift(bn.weight, bn.bias, stats[0], stats[1], bn.eps)
    folded = reference.prefix_epilogue(y, widths, scale=scale, shift=shift)
    torch.testing.assert_close(folded, out)


def test_gate_head_equals_pool_mlp_and_decisions():
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(5, 7), nn.Linear(7, 3)
    x = torch.randn(4, 5, 3, 3)
    scores = fc2(torch.relu(fc1(x.mean((2, 3)))))
    out = reference.gate_head(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias)
    torch.testing.assert_close(out.scores, scores)
    torch.testing.assert_close(out.probs, torch.softmax(scores, 1))
    assert torch.equal(out.decision, scores.argmax(1))
    noise = torch.randn(4, 3)
    gumbel = reference.gate_head(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias, mode="gumbel",
                                 noise=noise, tau=0.5)
    assert torch.equal(gumbel.decision, (scores + noise).argmax(1))
    assert torch.equal(gumbel.probs, nn.functional.one_hot(gumbel.decision, 3).float())


def test_straight_through_is_hard_forward_soft_backward():
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(5, 7), nn.Linear(7, 1)
    x = torch.randn(6, 5, requires_grad=True)
    out = reference.gate_head(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias, mode="straight_through",
                              threshold=0.4)
    soft = torch.sigmoid(out.scores)
    assert torch.equal(out.probs[:, 0], (soft[:, 0] > 0.4).float())
    assert torch.equal(out.decision, (soft[:, 0] > 0.4).long())
    (hard_grad,) = torch.autograd.grad(out.probs.sum(), x, retain_graph=True)
    (soft_grad,) = torch.autograd.grad(soft.sum(), x)
    torch.testing.assert_close(hard_grad, soft_grad)


def test_gumbel_noise_is_standard_gumbel():
    torch.manual_seed(0)
    noise = reference.gumbel_noise((200_000,), torch.zeros(1))
    assert torch.isfinite(noise).all()
    assert abs(noise.mean().item() - 0.5772) < 0.01  # Euler-Mascheroni constant
    assert abs(noise.var().item() - torch.pi ** 2 / 6) < 0.03
