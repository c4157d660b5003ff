"""LASSO channel selection and least-squares reconstruction (He et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn

from nasengine.compress import prune_to_ratios
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
