"""LASSO channel selection and least-squares reconstruction (He et al. 2017)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasengine.compress import prunable_layers, prune_to_ratios
from nasengine.compress.lasso import lasso_select, least_squares


def _layer_with_known_answer() -> tuple[nn.Module, set[int]]:
    """Channels 1, 4 and 6 carry the consumer's response; the other five have the largest
    filters but reach the consumer through near-zero weights, so magnitude picks them."""
    torch.manual_seed(0)
    producer, consumer = nn.Conv2d(3, 8, 1, bias=False), nn.Conv2d(8, 4, 1, bias=False)
    informative = {1, 4, 6}
    with torch.no_grad():
        for c in range(8):
            producer.weight[c] *= 1.0 if c in informative else 5.0
            consumer.weight[:, c] *= 1.0 if c in informative else 1e-3
    return nn.Sequential(producer, nn.ReLU(), consumer, nn.ReLU(), nn.Conv2d(4, 2, 1)).eval(), informative


def _kept_inputs(source: nn.Module, pruned: nn.Module) -> set[int]:
    """Which source channels the pruned producer kept (its filters are copies of them)."""
    before, after = source[0].weight.flatten(1), pruned[0].weight.flatten(1)
    return {int((before - row).abs().sum(1).argmin()) for row in after}


def test_lasso_picks_the_informative_channels():
    model, informative = _layer_with_known_answer()
    calibration = [torch.randn(16, 3, 6, 6) for _ in range(2)]
    lasso = prune_to_ratios(model, (1, 3, 6, 6), {"0": 3 / 8}, selection="lasso", calibration=calibration)
    magnitude = prune_to_ratios(model, (1, 3, 6, 6), {"0": 3 / 8}, selection="l1")
    assert _kept_inputs(model, lasso) == informative
    assert _kept_inputs(model, magnitude).isdisjoint(informative)  # the construction fools magnitude


def test_lasso_select_returns_exactly_the_kept_count():
    torch.manual_seed(1)
    z = torch.randn(200, 6, dtype=torch.float64)
    y = z[:, 0] * 3 + z[:, 2] * 2 + z[:, 5] * 0.1
    chosen = lasso_select((z.T @ z).numpy(), (z.T @ y).numpy(), 2)
    assert chosen == [0, 2]
    assert len(lasso_select((z.T @ z).numpy(), (z.T @ y).numpy(), 4)) == 4


def test_least_squares_recovers_a_linear_map():
    torch.manual_seed(2)
    x, w, b = torch.randn(100, 5), torch.randn(3, 5), torch.randn(3)
    fitted, bias = least_squares(x, x @ w.T + b, bias=True)
    assert torch.allclose(fitted, w, atol=1e-4) and torch.allclose(bias, b, atol=1e-4)


def test_least_squares_keeps_the_prior_where_the_samples_say_nothing():
    # Fewer samples than unknowns: the samples fix only some directions of W.
    torch.manual_seed(4)
    x, w_true, w_prior = torch.randn(6, 20), torch.randn(3, 20), torch.randn(3, 20)
    target = x @ w_true.T
    free = torch.linalg.svd(x).Vh[6:]  # directions no sample sees
    plain, _ = least_squares(x, target, bias=False)
    pulled, _ = least_squares(x, target, bias=False, prior=(w_prior, None), ridge=1e-3)
    assert torch.allclose(pulled @ free.T, w_prior @ free.T, atol=1e-3)  # unseen: the prior's values
    assert torch.allclose(plain @ free.T, torch.zeros(3, 14), atol=1e-3)  # unseen: zero without a prior
    assert (x @ pulled.T - target).norm() < 0.05 * target.norm()  # seen: still fitted


def test_reconstruction_lowers_the_next_layers_error():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 4, 1)).eval()
    calibration = [torch.randn(32, 3, 8, 8) for _ in range(2)]
    x = torch.randn(16, 3, 8, 8)
    errors = {}
    for reconstruct in (False, True):
        pruned = prune_to_ratios(model, (1, 3, 8, 8), {"0": 0.5}, selection="l1", calibration=calibration,
                                 reconstruct=reconstruct)
        with torch.no_grad():
            errors[reconstruct] = float((pruned[:3](x) - model[:3](x)).pow(2).mean())
    assert errors[True] < 0.5 * errors[False]


class _Concat(nn.Module):
    """Two branches concatenated into one convolution (channel indices shift in the consumer)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 6, 1)
        self.c, self.fc = nn.Conv2d(10, 5, 3, padding=1), nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x).relu(), self.b(x).relu()], 1)
        return self.fc(self.c(y).mean((2, 3)))


def _flatten_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 6, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 20), nn.ReLU(), nn.Linear(20, 5))


@pytest.mark.parametrize("make, size", [(_Concat, 6), (_flatten_net, 4)], ids=["concat", "flatten"])
def test_lasso_and_reconstruction_follow_concatenations_and_flattens(make, size):
    torch.manual_seed(4)
    model = make().eval()
    calibration = [torch.randn(64, 3, size, size)]
    ratios = {layer.name: 0.5 for layer in prunable_layers(model, (1, 3, size, size))}
    errors = {}
    for selection, reconstruct in (("l1", False), ("lasso", True)):
        pruned = prune_to_ratios(model, (1, 3, size, size), ratios, selection=selection, calibration=calibration,
                                 reconstruct=reconstruct)
        with torch.no_grad():
            errors[selection] = float((pruned(calibration[0]) - model(calibration[0])).pow(2).mean())
    assert errors["lasso"] < 0.5 * errors["l1"]
