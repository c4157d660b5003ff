"""AMC's state embedding and rewards."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from nasengine.layer_policy import FEATURES, REWARDS, StateEmbedding, min_max_columns, reward_function
from tests.layer_policy.tables import random_cost


def test_min_max_scales_each_column_and_zeroes_constant_ones():
    table = np.array([[0.0, 5.0, 2.0], [10.0, 5.0, 4.0], [5.0, 5.0, 3.0]])
    assert min_max_columns(table).tolist() == [[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.5, 0.0, 0.5]]


def test_features_follow_the_layers_and_the_decisions():
    cost = random_cost(random.Random(3), 6)
    embedding = StateEmbedding(cost)
    column = {name: i for i, name in enumerate(FEATURES)}
    states = [embedding.state([0.5] * k) for k in range(6)]
    assert all(s.shape == (len(FEATURES),) for s in states)
    static = np.array([s[: column["macs"] + 1] for s in states])
    assert static.min() >= 0.0 and static.max() <= 1.0
    assert [s[column["index"]] for s in states] == pytest.approx([k / 5 for k in range(6)])
    outs = [layer.out_channels for layer in cost.layers]
    widest = int(np.argmax(outs))
    assert states[widest][column["out_channels"]] == 1.0
    # dynamic features: nothing reduced and the first layer's "previous ratio" is 1 at the start
    assert states[0][column["reduced"]] == 0.0 and states[0][column["previous_ratio"]] == 1.0
    for k, s in enumerate(states):
        decided = [0.5] * k + [1.0] * (6 - k)
        assert s[column["reduced"]] == pytest.approx(1 - cost.macs(decided) / cost.original)
        later = sum(layer.macs + layer.follow_macs for layer in cost.layers[k + 1:])
        assert s[column["rest"]] == pytest.approx(later / cost.original)
    assert states[3][column["previous_ratio"]] == 0.5
    assert states[5][column["rest"]] == 0.0


def test_state_of_a_layer_past_the_end_is_refused():
    embedding = StateEmbedding(random_cost(random.Random(0), 2))
    with pytest.raises(ValueError, match="2 layers are decided"):
        embedding.state([1.0, 1.0])


def test_rewards():
    assert reward_function("accuracy")(0.7, 1e6) == 0.7
    assert reward_function("error_log_macs")(0.7, 1e6) == pytest.approx(-0.3 * math.log(1e6))
    # fewer MACs at equal error, or a lower error at equal MACs, are worth more
    assert REWARDS["error_log_macs"](0.7, 1e5) > REWARDS["error_log_macs"](0.7, 1e6)
    assert REWARDS["error_log_macs"](0.8, 1e6) > REWARDS["error_log_macs"](0.7, 1e6)
    with pytest.raises(ValueError, match="unknown reward 'acc'"):
        reward_function("acc")
    with pytest.raises(ValueError, match="fraction"):
        reward_function("accuracy")(70.0, 1e6)
