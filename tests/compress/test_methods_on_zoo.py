"""The searching and reconstructing methods leave torchvision and timm networks runnable and
exportable (``uniform`` and ``l1`` prune with the ``first`` and ``l1`` selections that
``test_prune`` already exports for these networks)."""

from __future__ import annotations

import pytest
import torch

from nasengine.compress import prunable_layers
from nasengine.compress.methods import METHODS, MethodInput
from nasengine.cost import count_cost

from .test_prune import MODELS, _trained_like

#: A few AMC episodes: enough to run the search, the budget rule and the final pruning.
SETTINGS = {"amc": {"episodes": 2, "warmup": 1}}


def _agreement(reference: torch.nn.Module, x: torch.Tensor):
    """Share of ``x``'s images a network classifies as ``reference`` does (a score in [0, 1])."""
    with torch.no_grad():
        labels = reference(x).argmax(1)

    def score(net: torch.nn.Module) -> float:
        with torch.no_grad():
            return float((net(x).argmax(1) == labels).float().mean())

    return score


CASES = [pytest.param(name, method, marks=() if name == "resnet18" else pytest.mark.slow)
         for name in MODELS for method in ("lasso", "amc")]


@pytest.mark.parametrize(("name", "method"), CASES)
def test_each_method_prunes_zoo_networks_that_run_and_export(name, method, tmp_path):
    model = _trained_like(MODELS[name]())
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    calibration = [torch.randn(8, 3, 32, 32)]
    source = count_cost(model, x.shape)
    limit = int(0.6 * source.macs)
    task = MethodInput(model, x, limit, prunable_layers(model, x), calibration, score=_agreement(model, calibration[0]),
                       workdir=tmp_path / "method", options=SETTINGS.get(method, {}))
    pruned = METHODS[method].run(task).model.eval()
    cost = count_cost(pruned, x.shape)
    assert cost.macs <= limit and cost.params < source.params
    with torch.no_grad():
        out = pruned(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    torch.export.save(torch.export.export(pruned, (x,)), tmp_path / "model.pt2")
    with torch.no_grad():
        assert torch.allclose(torch.export.load(tmp_path / "model.pt2").module()(x), out, atol=1e-4)
