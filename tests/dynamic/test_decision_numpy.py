from __future__ import annotations

import numpy as np
import pytest
import torch

from nasengine.dynamic.decision import DecisionNetwork
from nasengine.dynamic.decision_numpy import NumpyDecider, pooled_vector

WIDTHS = (8, 16, 16)


def network(cell: str, actions: int, seed: int = 0) -> DecisionNetwork:
    torch.manual_seed(seed)
    net = DecisionNetwork(WIDTHS, actions, hidden=8, cell=cell, shared_head=cell == "lstm")
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    return net.eval()


@pytest.mark.parametrize("cell,actions,mode", [("gru", 4, "argmax"), ("none", 4, "argmax"), ("none", 1, "sigmoid"),
                                               ("lstm", 1, "sigmoid"), ("lstm", 3, "argmax")])
def test_numpy_steps_equal_the_torch_steps(cell, actions, mode):
    net = network(cell, actions)
    replica = NumpyDecider(net)
    gen = torch.Generator().manual_seed(1)
    decisions_torch, decisions_numpy = [], []
    for sample in range(12):
        state_t, state_n = net.initial_state(1, torch.zeros(1)), None
        for t, c in enumerate(WIDTHS):
            narrow = c // 2 if sample % 2 else c  # a pruned map: the missing channels are zeros
            fmap = torch.randn(1, narrow, 3, 3, generator=gen) * (sample + 1)
            if sample % 3 == 0:
                fmap = fmap.contiguous(memory_format=torch.channels_last)
            padded = torch.nn.functional.pad(fmap, (0, 0, 0, 0, 0, c - narrow))
            out, state_t = net.step(t, padded, state_t, mode=mode)
            a, state_n = replica.step(t, fmap, state_n, mode=mode)
            decisions_torch.append(int(out.decision))
            decisions_numpy.append(a)
            if state_t is not None:
                np.testing.assert_allclose(state_n, state_t[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert decisions_numpy == decisions_torch
    assert len(set(decisions_torch)) > 1  # the inputs really move the decisions


def test_pooled_vector_reads_both_layouts():
    fmap = torch.randn(1, 5, 4, 3)
    expected = fmap.mean((2, 3))[0].numpy()
    np.testing.assert_allclose(pooled_vector(fmap), expected, rtol=1e-6)
    np.testing.assert_allclose(pooled_vector(fmap.contiguous(memory_format=torch.channels_last)), expected, rtol=1e-6)
    np.testing.assert_allclose(pooled_vector(fmap.mean((2, 3))), expected, rtol=1e-6)


def test_replica_follows_in_place_updates_and_loads():
    net = network("gru", 4)
    fmap = torch.randn(1, 8, 2, 2)
    before = net.decide_one(0, fmap, None)[1].copy()
    with torch.no_grad():
        net.cell.bias_hh.add_(1.0)  # an optimizer step: the replica's views see it
    assert not np.allclose(net.decide_one(0, fmap, None)[1], before)
    net.load_state_dict(network("gru", 4, seed=5).state_dict())  # a load rebuilds it
    expected = net.step(0, fmap.mean((2, 3)), net.initial_state(1, fmap))[1][0].detach().numpy()
    np.testing.assert_allclose(net.decide_one(0, fmap, None)[1], expected, rtol=1e-5, atol=1e-6)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        NumpyDecider(network("none", 2)).step(0, torch.zeros(1, 8), None, mode="gumbel")


@pytest.mark.parametrize("cell", ["none", "lstm"])
def test_input_norm_is_folded_exactly_at_inference(cell):
    torch.manual_seed(0)
    net = DecisionNetwork(WIDTHS, 1, hidden=8, cell=cell, shared_head=True, input_norm=True)
    fmaps = [torch.randn(5, c, 3, 3) * 2 + 1 for c in WIDTHS]
    net.train()
    state = net.initial_state(5, fmaps[0])
    for t, fmap in enumerate(fmaps):  # training mode: batch statistics, running ones updated
        _, state = net.step(t, fmap, state, mode="straight_through")
    assert not torch.allclose(net.input_norms[0].running_mean, torch.zeros(WIDTHS[0]))
    net.eval()
    state, replica_state = net.initial_state(5, fmaps[0]), [None] * 5
    for t, fmap in enumerate(fmaps):
        norm, enc = net.input_norms[t], net.encoders[t]
        pooled = (fmap.mean((2, 3)) - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
        hidden = torch.relu(enc(pooled))
        if cell == "none":
            expected = net.heads[t](hidden)
        else:
            h, c = net.cell(hidden, tuple(state.chunk(2, dim=1)))
            expected = net.heads[0][1](torch.relu(net.heads[0][0](h)))
        out, state = net.step(t, fmap, state, mode="sigmoid")
        torch.testing.assert_close(out.scores, expected, rtol=1e-5, atol=1e-5)
        for i in range(5):
            decision, replica_state[i] = net.decide_one(t, fmap[i: i + 1], replica_state[i], mode="sigmoid")
            assert decision == int(out.decision[i])
