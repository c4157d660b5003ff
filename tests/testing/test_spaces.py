"""Every registered space passes the conformance suite and trains on digits."""

from __future__ import annotations

import pytest

import nasengine
from nasengine.data import load_dataset
from nasengine.testing.spaces import SPACE_CHECKS
from nasengine.train.loop import TrainConfig, evaluate, fit

ENAS_OPS = ["identity", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"]
DIGITS = {"input_size": 8, "num_classes": 10, "in_channels": 1}

#: Small configurations per space; a registered space without one fails the suite.
SMALL_CONFIGS: dict[str, list[dict]] = {
    "shufflenet": [
        {**DIGITS, "stem_channels": 8, "stem_stride": 1, "stage_repeats": [1, 1, 2, 1], "stage_channels": [16, 32, 64, 128],
         "last_channels": 128},
        {"input_size": 16, "num_classes": 5, "stem_channels": 8, "stem_stride": 1, "stage_repeats": [1, 2, 1, 1],
         "stage_channels": [16, 32, 48, 64], "last_channels": 64, "channel_search": True},
    ],
    "nas_cell": [
        {**DIGITS, "stem": "cifar", "filters": 8, "cells_per_stage": 1, "blocks": 3},
        {"input_size": 16, "num_classes": 5, "stem": "cifar", "filters": 8, "cells_per_stage": 1, "blocks": 2, "ops": ENAS_OPS,
         "first_prev": "conv", "base_conv": True, "classifier_bias": False},
    ],
    "layers": [
        {**DIGITS, "layers": 4, "filters": [8], "reduce_after": [1]},
        {"input_size": 16, "num_classes": 5, "layers": 4, "filters": [4, 8], "combine": "concat", "skip_inputs": 2,
         "input_conv": False, "ops": ["conv_1x3", "conv_3x3", "conv_5x1", "sep_conv_3x3"]},
        {**DIGITS, "layers": 3, "filters": [4, 6], "combine": "concat", "input_conv": False, "reduce_after": [],
         "ops": ["conv_1x3", "conv_3x1", "conv_3x3"], "stem_width": 7, "stem_relu": True},
    ],
    "channel_width": [
        {**DIGITS, "backbone": "small"},
        {"input_size": 32, "num_classes": 10, "backbone": "mobilenet_v2"},
        {**DIGITS, "backbone": "small", "widths": [0.5, 1.0], "kernels": [1, 3, 5]},
    ],
}

CASES = [(name, i) for name, configs in SMALL_CONFIGS.items() for i in range(len(configs))]


def test_every_registered_space_has_small_configs():
    builtins = {n for n in nasengine.list_spaces() if nasengine.SPACES.get(n).__module__.startswith("search_spaces")}
    assert builtins <= set(SMALL_CONFIGS), builtins - set(SMALL_CONFIGS)


@pytest.mark.parametrize("check", SPACE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name, index", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_space_conforms(name, index, check):
    check(nasengine.get_space(name, **SMALL_CONFIGS[name][index]))


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_short_training_on_digits_beats_chance(name):
    space = nasengine.get_space(name, **SMALL_CONFIGS[name][0])
    data = load_dataset("digits", image_size=space.config.input_size, channels=space.config.in_channels)
    train, val, _ = data.loaders(64, seed=0)
    model = space.build(space.sample(0))
    fit(model, train, val, TrainConfig(epochs=4, lr=0.1), progress=False)
    assert evaluate(model, val)["acc"] > 0.6  # chance is 0.1
