"""HAQ's bit budget: actions as whole bits, and no finished policy above the limit."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nasengine.layer_policy import BitBudget, BitCost, BitWidthEnv

EIGHT = ((2, 8), (2, 8))


def _size(weights, fixed=100.0) -> BitCost:
    return BitCost.from_function(len(weights), lambda k, w, a: weights[k] * w, fixed=fixed)


def _bitops(macs) -> BitCost:
    return BitCost.from_function(len(macs), lambda k, w, a: macs[k] * w * a)


def test_actions_map_to_whole_bits_in_equal_shares():
    budget = BitBudget(_size([10]), None, [((2, 8), (4, 5))])
    assert [budget.bits(0, 0, x) for x in (0.0, 0.14, 0.15, 0.5, 0.99, 1.0, 7.0, -1.0)] == [2, 2, 3, 5, 8, 8, 8, 2]
    assert [budget.bits(0, 1, x) for x in (0.0, 0.49, 0.51, 1.0)] == [4, 4, 5, 5]


def test_bits_are_lowered_from_the_last_layer_activations_first():
    budget = BitBudget(_bitops([1.0, 1.0, 1.0]), 3 * 64 - 15, [EIGHT] * 3)
    # 8*7 saves 8, then 7*7 saves 7: two steps on the last layer reach 192 - 15
    assert budget.enforce([(8, 8)] * 3) == [(8, 8), (8, 8), (7, 7)]
    assert budget.enforce([(4, 4)] * 3) == [(4, 4)] * 3  # within the limit: unchanged


def test_a_size_limit_never_lowers_activation_bits():
    budget = BitBudget(_size([10, 20, 30]), 100 + 10 * 8 + 20 * 8 + 30 * 4, [EIGHT] * 3)
    policy = budget.enforce([(8, 7)] * 3)
    assert [a for _, a in policy] == [7, 7, 7] and budget.cost(policy) <= budget.limit


@pytest.mark.parametrize("kind", ["size", "bitops", "table"])
def test_no_policy_ends_above_the_limit(kind):
    rng = random.Random(kind)
    for _ in range(60):
        n = rng.randint(1, 6)
        if kind == "size":
            cost = _size([rng.randint(1, 500) for _ in range(n)])
        elif kind == "bitops":
            cost = _bitops([rng.randint(0, 500) for _ in range(n)])
        else:  # a measured table need not be monotone in the bits
            cost = BitCost(np.random.default_rng(rng.randint(0, 99)).uniform(0, 10, (n, 9, 9)))
        bounds = [((rng.randint(1, 4), 8), (rng.randint(1, 4), rng.randint(4, 8))) for _ in range(n)]
        cheapest = cost([(wl, al) for (wl, _), (al, _) in bounds])
        dearest = cost([(wh, ah) for (_, wh), (_, ah) in bounds])
        limit = cheapest + rng.random() * max(dearest - cheapest, 0.0) + 1e-9
        budget = BitBudget(cost, limit, bounds)
        for _ in range(10):
            chosen = [(rng.randint(wl, wh), rng.randint(al, ah)) for (wl, wh), (al, ah) in bounds]
            policy = budget.enforce(chosen)
            assert budget.cost(policy) <= limit
            assert all(wl <= w <= c_w and al <= a <= c_a
                       for (w, a), (c_w, c_a), ((wl, _), (al, _)) in zip(policy, chosen, bounds))


def test_an_unreachable_limit_and_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="cannot be met"):
        BitBudget(_size([10, 10]), 100 + 10 * 2 + 10 * 2 - 1, [EIGHT] * 2)
    with pytest.raises(ValueError, match="bit bounds"):
        BitBudget(_size([10]), None, [((0, 8), (2, 8))])
    with pytest.raises(ValueError, match="bit bounds"):
        BitBudget(_size([10]), None, [((2, 9), (2, 8))])


class _Layer:
    def __init__(self, index: int, depthwise: bool, channels: int) -> None:
        self.index, self.depthwise, self.in_channels, self.out_channels = index, depthwise, channels, channels
        self.stride, self.kernel, self.weights, self.feature_size = 1, 3, 9 * channels, 64


def test_an_episode_decides_weights_then_activations_layer_by_layer():
    layers = [_Layer(0, False, 8), _Layer(1, True, 16), _Layer(2, False, 32)]
    budget = BitBudget(_bitops([1.0, 2.0, 3.0]), 6 * 30, [EIGHT] * 3)
    seen = []
    env = BitWidthEnv(layers, budget, lambda policy: seen.append(policy) or 0.5)
    state = env.reset()
    assert state.shape == (env.state_size,) and list(state[-2:]) == [1.0, 1.0]
    states, done = [state], False
    while not done:
        state, reward, done, info = env.step(np.array([1.0]))
        states.append(state)
    assert len(states) == 7 and reward == 0.5 and info["chosen"] == [[8, 8]] * 3
    assert [list(s[-2:]) for s in states[1:-1]] == [[1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]
    assert states[1][0] == 0.0 and states[2][0] == 1.0  # the depthwise flag of layers 0 and 1
    assert seen == [[tuple(p) for p in info["policy"]]] and info["cost"] <= 180
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(np.array([0.0]))


def test_decisions_with_one_allowed_bit_count_are_not_asked_of_the_agent():
    layers = [_Layer(0, False, 8), _Layer(1, False, 16), _Layer(2, False, 32)]
    # first and last layers fixed at 8; activations fixed at 4 (a size limit's weights-only search)
    bounds = [((8, 8), (8, 8)), ((2, 8), (4, 4)), ((8, 8), (8, 8))]
    budget = BitBudget(_size([1.0, 2.0, 3.0]), None, bounds)
    env = BitWidthEnv(layers, budget, lambda policy: 0.25)
    assert env.decisions == [(1, 0)]
    env.reset()
    state, reward, done, info = env.step(np.array([0.0]))
    assert done and reward == 0.25 and info["policy"] == [[8, 8], [2, 4], [8, 8]]
    with pytest.raises(ValueError, match="nothing to decide"):
        BitWidthEnv(layers, BitBudget(_size([1.0, 2.0, 3.0]), None, [((8, 8), (8, 8))] * 3), lambda policy: 0.5)
