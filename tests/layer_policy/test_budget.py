"""AMC's budget rule: no episode ends above the limit, and the limit stays reachable."""

from __future__ import annotations

import math
import random

import pytest

from nasengine.layer_policy import ChannelBudget, ChannelCost, MonotoneLimit, PrunableLayer
from tests.layer_policy.tables import random_cost

_TOL = 1e-9


def _layer(index: int, out: int, macs: float, source: int | None, follow: float = 0.0) -> PrunableLayer:
    return PrunableLayer(index=index, in_channels=4, out_channels=out, kernel=1, stride=1, feature_size=1,
                         macs=macs, params=macs, input_from=source, follow_macs=follow)


def test_cost_scales_with_own_and_input_ratio():
    cost = ChannelCost([_layer(0, 10, 100.0, None, follow=10.0), _layer(1, 10, 200.0, 0)], fixed_macs=5.0)
    assert cost.original == 315.0
    assert cost.macs([0.5, 0.4]) == pytest.approx(5 + 100 * 0.5 + 10 * 0.5 + 200 * 0.5 * 0.4)
    assert cost.affine([0.5, 0.4], 0) == pytest.approx((5.0, 100 + 10 + 200 * 0.4))


def test_cap_by_hand():
    budget = ChannelBudget(ChannelCost([_layer(0, 10, 100.0, None), _layer(1, 10, 200.0, 0)]), 150.0, lbound=0.2)
    # layer 0 with layer 1 at 0.2: 100 r0 + 200 * 0.2 * r0 = 140 r0 <= 150
    assert budget.cap([]) == pytest.approx(150 / 140)
    assert budget.clip([], 1.0) == 1.0
    # layer 1 after r0 = 1: 100 + 200 r1 <= 150
    assert budget.cap([1.0]) == pytest.approx(0.25)
    assert budget.clip([1.0], 1.0) == pytest.approx(0.2)  # 2.5 channels: rounded down to 2 of 10
    assert budget.clip([1.0], 0.0) == pytest.approx(0.2)  # the lower bound


def _episode(budget: ChannelBudget, actions) -> list[float]:
    ratios: list[float] = []
    for action in actions:
        cap = budget.cap(ratios)
        k = len(ratios)
        assert cap >= budget.min_ratios[k] * (1 - _TOL), "the limit became unreachable"
        ratios.append(budget.clip(ratios, action))
        assert budget.min_ratios[k] <= ratios[-1] <= budget.max_ratios[k]
    return ratios


@pytest.mark.parametrize("round_to", [1, 8])
def test_no_episode_exceeds_the_limit(round_to):
    rng = random.Random(round_to)
    for _ in range(150):
        cost = random_cost(rng)
        lbound = rng.choice([0.1, 0.2, 0.3])
        smallest = ChannelBudget(cost, None, lbound=lbound, round_to=round_to).min_ratios
        low = cost.macs(smallest)
        limit = low + rng.random() * (cost.original - low)
        budget = ChannelBudget(cost, limit, lbound=lbound, round_to=round_to)
        n = len(cost)
        policies = [[1.0] * n, [0.0] * n, [rng.random() for _ in range(n)], [rng.choice([0.0, 1.0]) for _ in range(n)],
                    [rng.uniform(-1.0, 2.0) for _ in range(n)]]
        for actions in policies:
            ratios = _episode(budget, actions)
            assert cost.macs(ratios) <= limit * (1 + _TOL)
            channels = budget.channels(ratios)
            for c, layer in zip(channels, cost.layers):
                assert c % round_to == 0 or c == layer.out_channels
                assert c / layer.out_channels == pytest.approx(ratios[layer.index])


def _stepped_measure(rng: random.Random, n: int):
    """A measure that rises with every ratio but is not affine in any: square roots,
    products and steps (as a latency table's grids give), plus a constant."""
    weights = [rng.uniform(0.1, 2.0) for _ in range(n)]
    steps = [rng.choice([2, 4, 8]) for _ in range(n)]

    def measure(ratios):
        total = 0.5
        for k, r in enumerate(ratios):
            before = ratios[k - 1] if k else 1.0
            total += weights[k] * (r ** 0.5) * before ** 2 + 0.3 * math.ceil(r * steps[k]) / steps[k]
        return total

    return measure


@pytest.mark.parametrize("round_to", [1, 8])
def test_a_monotone_limit_is_never_exceeded(round_to):
    rng = random.Random(10 + round_to)
    for _ in range(100):
        cost = random_cost(rng)
        lbound = rng.choice([0.1, 0.2, 0.3])
        measure = _stepped_measure(rng, len(cost))
        smallest = measure(ChannelBudget(cost, None, lbound=lbound, round_to=round_to).min_ratios)
        limit = smallest + rng.random() * (measure([1.0] * len(cost)) - smallest)
        macs_limit = rng.choice([None, cost.original * rng.uniform(0.5, 1.0)])
        try:
            budget = ChannelBudget(cost, macs_limit, lbound=lbound, round_to=round_to,
                                   other=MonotoneLimit(measure, limit))
        except ValueError:  # the random MACs limit is out of reach
            continue
        n = len(cost)
        for actions in ([1.0] * n, [rng.random() for _ in range(n)], [rng.uniform(-1.0, 2.0) for _ in range(n)]):
            ratios = _episode(budget, actions)
            assert measure(ratios) <= limit * (1 + _TOL)
            assert macs_limit is None or cost.macs(ratios) <= macs_limit * (1 + _TOL)


def test_a_monotone_limit_caps_at_the_largest_count_that_fits():
    cost = ChannelCost([_layer(0, 10, 100.0, None), _layer(1, 10, 200.0, 0)])
    budget = ChannelBudget(cost, None, lbound=0.1, other=MonotoneLimit(lambda r: r[0] ** 2 + r[1], 0.6))
    assert budget.cap([]) == pytest.approx(0.7)  # 0.49 + 0.1 <= 0.6 < 0.64 + 0.1
    assert budget.clip([], 1.0) == pytest.approx(0.7) and budget.clip([], 0.3) == pytest.approx(0.3)
    assert budget.clip([0.7], 1.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="latency limit 0.001 cannot be met"):
        ChannelBudget(cost, None, lbound=0.1, other=MonotoneLimit(lambda r: r[0] ** 2 + r[1], 0.001))


def test_greedy_episode_uses_the_budget():
    """All-1.0 actions take every layer's cap: with whole channels the total ends within
    one channel's worth of MACs below the limit, unless every layer is at its top."""
    rng = random.Random(5)
    for _ in range(100):
        cost = random_cost(rng)
        limit = rng.uniform(0.3, 0.9) * cost.original
        try:
            budget = ChannelBudget(cost, limit, lbound=0.1)
        except ValueError:
            continue
        ratios = _episode(budget, [1.0] * len(cost))
        if all(r == 1.0 for r in ratios):
            continue
        last = cost.layers[-1]
        a, b = cost.affine(ratios, len(cost) - 1)
        step = b / last.out_channels  # MACs of one channel of the last layer
        assert cost.macs(ratios) >= limit - step * (1 + _TOL) or ratios[-1] == 1.0


def test_without_a_limit_only_the_bounds_apply():
    rng = random.Random(1)
    cost = random_cost(rng, 5)
    budget = ChannelBudget(cost, None, lbound=0.25, rbound=0.75)
    assert _episode(budget, [1.0] * 5) == budget.max_ratios
    assert all(0.25 <= r <= 0.75 + 1 / layer.out_channels for r, layer in zip(budget.max_ratios, cost.layers))
    assert budget.clip([], 0.5) == pytest.approx(round(0.5 * cost.layers[0].out_channels) / cost.layers[0].out_channels)


def test_an_unreachable_limit_is_refused():
    cost = ChannelCost([_layer(0, 10, 100.0, None), _layer(1, 10, 200.0, 0)])
    with pytest.raises(ValueError, match="cannot be met.*lower lbound"):
        ChannelBudget(cost, 20.0, lbound=0.2)  # smallest: 100 * 0.2 + 200 * 0.04 = 28


@pytest.mark.parametrize("bad", [dict(lbound=0.0), dict(rbound=1.5), dict(lbound=0.5, rbound=0.4), dict(round_to=0)])
def test_bad_bounds_are_refused(bad):
    with pytest.raises(ValueError):
        ChannelBudget(ChannelCost([_layer(0, 10, 100.0, None)]), None, **bad)


def test_layers_must_be_in_order_and_read_earlier_layers():
    with pytest.raises(ValueError, match="in order"):
        ChannelCost([_layer(1, 10, 1.0, None)])
    with pytest.raises(ValueError, match="input_from"):
        _layer(1, 10, 1.0, 1)
