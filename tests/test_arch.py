from __future__ import annotations

import json

import pytest

from nasengine import Arch, ArchError, Decision
from tests.toy_space import ToySpace


def test_decision_rejects_empty_and_repeated_options():
    with pytest.raises(ValueError, match="no options"):
        Decision("d", ())
    with pytest.raises(ValueError, match="repeated"):
        Decision("d", ("a", "a"))


def test_decision_index_accepts_equal_numbers_but_not_bools():
    d = Decision("w", (0.5, 1.0))
    assert d.index(1) == 1
    with pytest.raises(ArchError, match=r"'w'.*\[0.5, 1.0\]"):
        d.index(True)


def test_arch_is_immutable_hashable_and_has_stable_id():
    space = ToySpace()
    a = space.arch({"kernel": "k5", "width": 8})
    b = space.arch({"width": 8, "kernel": "k5"})
    assert a == b and hash(a) == hash(b) and a.id == b.id and len(a.id) == 12
    assert space.arch({"kernel": "k3", "width": 8}).id != a.id
    with pytest.raises(TypeError):
        a.choices["kernel"] = "k3"  # type: ignore[index]


def test_json_round_trip_without_registry():
    space = ToySpace()
    a = space.arch({"kernel": "k3", "width": 4})
    data = json.loads(a.to_json())
    assert data == {"space": "toy", "config": {"input_size": 8, "num_classes": 10, "in_channels": 1},
                    "choices": {"kernel": "k3", "width": 4}}
    assert Arch.from_json(a.to_json(), validate=False) == a


def test_from_json_errors_are_precise():
    with pytest.raises(ArchError, match="not valid JSON"):
        Arch.from_json("{nope")
    with pytest.raises(ArchError, match="lacks"):
        Arch.from_json('{"space": "toy"}')


@pytest.mark.parametrize(
    "choices, message",
    [
        ({"kernel": "k3"}, "missing decision.*width"),
        ({"kernel": "k3", "width": 4, "depth": 2}, "unknown decision.*depth"),
        ({"kernel": "k9", "width": 4}, r"'kernel'.*'k9'.*\['k3', 'k5'\]"),
    ],
)
def test_space_arch_validation(choices, message):
    with pytest.raises(ArchError, match=message):
        ToySpace().arch(choices)


def test_arch_from_indices():
    space = ToySpace()
    assert space.arch_from_indices([1, 0]).choices == {"kernel": "k5", "width": 4}
    with pytest.raises(ArchError, match="out of range"):
        space.arch_from_indices([2, 0])


def test_config_validation():
    with pytest.raises(ValueError, match="unknown config key.*depth"):
        ToySpace(depth=3)
    with pytest.raises(ValueError, match="input_size must be a positive integer"):
        ToySpace(input_size=0)
    with pytest.raises(ValueError, match="num_classes.*int"):
        ToySpace(num_classes="ten")
