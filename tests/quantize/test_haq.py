"""HAQ's search on a tiny network: within the limit, seeded, and resumed as if never stopped."""

from __future__ import annotations

import pytest
import torch

from nasengine.layer_policy import BitBudget, BitCost
from nasengine.quantize import activation_stats, apply_policy, quantizable_layers, quantized_copy, size_parts
from nasengine.quantize.haq import CHECKPOINT, haq_search
from nasengine.quantize.layers import QuantizeError
from nasengine.utils.run_folder import RunFolderError
from tests.quantize.nets import batches, tiny_net

FAST = {"episodes": 6, "warmup": 2}


def _problem(mean_bits: float = 4.0):
    """The tiny network's weights under ``mean_bits`` bits on average, scored by how closely the
    quantized network reproduces the float one's outputs (a stand-in for accuracy that every
    bit moves)."""
    net = tiny_net()
    data = batches()
    layers = quantizable_layers(net, data[0][:2])
    stats = activation_stats(net, [layer.name for layer in layers], data)
    quant = quantized_copy(net, layers)
    held_out = batches(1, 64, seed=5)[0]
    with torch.no_grad():
        target = net(held_out)
    spread = float(((target - target.mean(0)) ** 2).sum())

    def fidelity(policy) -> float:
        with torch.no_grad():
            out = apply_policy(quant, layers, policy, stats)(held_out)
        return 1.0 / (1.0 + float(((out - target) ** 2).sum()) / spread)

    weights = size_parts(net, layers)[1]
    cost = BitCost.from_function(len(layers), lambda k, w, a: weights[k] * w)
    budget = BitBudget(cost, mean_bits * sum(weights), [((2, 8), (2, 8))] * len(layers))
    return layers, budget, fidelity


def test_the_search_meets_the_limit_and_is_seeded(tmp_path):
    layers, budget, fidelity = _problem()
    first = haq_search(layers, budget, fidelity, options=FAST, seed=3)
    again = haq_search(layers, budget, fidelity, options=FAST, seed=3)
    assert first == again and first.episodes == 6 and first.resumed_from == 0
    assert budget.cost(first.policy) == first.cost <= budget.limit
    assert 0 < first.accuracy <= 1 and len(first.policy) == len(layers)


def test_a_resumed_search_ends_as_an_uninterrupted_one(tmp_path):
    layers, budget, fidelity = _problem()
    whole = haq_search(layers, budget, fidelity, options=FAST, seed=1, workdir=tmp_path / "whole")
    part = haq_search(layers, budget, fidelity, options={**FAST, "episodes": 3}, seed=1, workdir=tmp_path / "split")
    assert part.episodes == 3
    resumed = haq_search(layers, budget, fidelity, options=FAST, seed=1, workdir=tmp_path / "split")
    assert resumed.resumed_from == 3 and resumed.episodes == 6
    assert (resumed.policy, resumed.accuracy, resumed.cost, resumed.episode) == (
        whole.policy, whole.accuracy, whole.cost, whole.episode)
    saved = [torch.load(tmp_path / d / CHECKPOINT, weights_only=True)["agent"] for d in ("whole", "split")]
    for key, value in saved[0]["actor"].items():
        assert torch.equal(value, saved[1]["actor"][key])
    with pytest.raises(RunFolderError, match="warmup"):  # other settings are refused
        haq_search(layers, budget, fidelity, options={**FAST, "warmup": 1}, seed=1, workdir=tmp_path / "split")


def test_wrong_settings_are_refused():
    layers, budget, fidelity = _problem()
    with pytest.raises(QuantizeError, match="no setting"):
        haq_search(layers, budget, fidelity, options={"lbound": 0.2})
    with pytest.raises(QuantizeError, match="episodes"):
        haq_search(layers, budget, fidelity, options={"episodes": 0})


def test_the_first_episode_plays_the_largest_uniform_policy_within_the_limit():
    layers, budget, fidelity = _problem(mean_bits=4.5)
    scored = []

    def recording(policy):
        scored.append(list(policy))
        return fidelity(policy)

    result = haq_search(layers, budget, recording, options={**FAST, "episodes": 3}, seed=0)
    # 4.5 bits on average admit uniform 4 (weights and activations) but not uniform 5
    assert scored[0] == [(4, 4)] * len(layers)
    assert result.accuracy >= fidelity([(4, 4)] * len(layers)) and result.accuracy == max(map(fidelity, scored))
    scored.clear()
    haq_search(layers, budget, recording, options={**FAST, "episodes": 3, "reference": 0}, seed=0)
    assert [(4, 4)] * len(layers) not in scored  # without it, the agent's random warm-up starts
    with pytest.raises(QuantizeError, match="reference"):
        haq_search(layers, budget, fidelity, options={"reference": 2})
