from __future__ import annotations

import pytest

from nasengine.cli.common import parse_sets
from nasengine.utils import yaml_values


@pytest.mark.parametrize("text,value", [
    ("5e-4", 0.0005), ("1e3", 1000.0), ("-2E-2", -0.02), ("1.5e-3", 0.0015), (".5e1", 5.0),
    ("0.1", 0.1), ("3", 3), ("abc", "abc"), ("e5", "e5"), ("[1e-3, 2]", [0.001, 2]),
])
def test_exponent_floats_are_numbers(text, value):
    loaded = yaml_values.load(text)
    assert loaded == value and type(loaded) is type(value)


def test_set_options_read_exponents_as_numbers():
    # PyYAML alone reads "5e-4" as a string, which reached the optimizer as text.
    assert parse_sets(["weight_decay=5e-4", "name=k3"]) == {"weight_decay": 0.0005, "name": "k3"}
