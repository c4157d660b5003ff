"""The cluttered-digits generator: deterministic, split by source digit, parameters named."""

from __future__ import annotations

import pytest
import torch

from nasengine.data import load_dataset
from nasengine.data.cluttered import ClutterConfig, cluttered_digits, render


def test_same_parameters_give_the_same_tensors():
    small = ClutterConfig(canvas=16, min_scale=8, max_scale=12, fragment_size=4, copies=1, eval_copies=1)
    a, b = cluttered_digits(small), cluttered_digits(small)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert torch.equal(a.test.tensors[1], b.test.tensors[1])
    assert a.name == "cluttered-c16-s8-12-r20-f4x4-n0.1-x1-v1"


def test_split_sizes_follow_the_source_split_times_copies():
    data = cluttered_digits(ClutterConfig(canvas=16, min_scale=8, max_scale=12, fragment_size=4, copies=2, eval_copies=3))
    assert (len(data.train), len(data.val), len(data.test)) == (2 * 1078, 3 * 359, 3 * 360)
    assert data.train.tensors[0].shape[1:] == (1, 16, 16)
    # normalised with the training split's statistics
    assert abs(float(data.train.tensors[0].mean())) < 1e-4


def test_digit_lands_inside_the_canvas_and_clutter_adds_ink():
    digit = torch.ones(64, 1, 8, 8)
    gen = torch.Generator().manual_seed(0)
    clean = render(digit, ClutterConfig(canvas=32, fragments=0, noise=0.0, rotation=0.0), gen)
    # an all-ink 8x8 box scaled to 12..20 px covers 144..400 pixels, never cut by the border
    ink = (clean > 0.5).flatten(1).sum(1)
    assert int(ink.min()) >= 130 and int(ink.max()) <= 420
    gen = torch.Generator().manual_seed(0)
    cluttered = render(digit, ClutterConfig(canvas=32, fragments=4, noise=0.0, rotation=0.0), gen)
    assert (cluttered >= clean - 1e-6).all() and cluttered.sum() > clean.sum()


def test_load_dataset_resizes_and_repeats_channels():
    data = load_dataset("cluttered", image_size=24, channels=3)
    assert data.train.tensors[0].shape[1:] == (3, 24, 24) and data.image_size == 24 and data.in_channels == 3


@pytest.mark.parametrize("bad", [{"canvas": 0}, {"min_scale": 30, "max_scale": 20}, {"max_scale": 40},
                                 {"fragments": -1}, {"noise": -0.1}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        ClutterConfig(**bad)
