"""Defaults of the ``SearchSpace`` base class: enumeration and cost bounds."""

from __future__ import annotations

import pytest

from nasengine import ArchError
from nasengine.space import SpaceTooLarge
from tests.toy_space import ToySpace


class RuledToySpace(ToySpace):
    """The toy space with a rule spanning both decisions: no 5x5 kernel at width 8."""

    name = "ruled_toy"

    def check(self, choices):
        if choices["kernel"] == "k5" and choices["width"] == 8:
            raise ArchError("k5 needs width 4")


def test_all_archs_enumerates_every_combination_once():
    archs = list(ToySpace().all_archs())
    assert [dict(a.choices) for a in archs] == [{"kernel": k, "width": w} for k in ("k3", "k5") for w in (4, 8)]


def test_all_archs_skips_what_a_rule_rejects():
    choices = [dict(a.choices) for a in RuledToySpace().all_archs()]
    assert len(choices) == 3 and {"kernel": "k5", "width": 8} not in choices


def test_all_archs_refuses_spaces_over_the_limit_before_enumerating():
    with pytest.raises(SpaceTooLarge, match="space 'toy' has 4 architectures; at most 3 can be enumerated"):
        ToySpace().all_archs(limit=3)
    assert len(list(ToySpace().all_archs(limit=4))) == 4


def test_default_cost_bounds_enumerate_small_spaces():
    space = RuledToySpace()
    low, high = space.cost_bounds()
    costs = [space.cost(space.arch({"kernel": k, "width": w})) for k, w in (("k3", 4), ("k3", 8), ("k5", 4))]
    assert (low.macs, low.params) == (min(c.macs for c in costs), min(c.params for c in costs))
    assert (high.macs, high.params) == (max(c.macs for c in costs), max(c.params for c in costs))


def test_default_cost_bounds_of_a_huge_space_say_to_override():
    class Huge(ToySpace):
        name = "huge_toy"

        def size(self):
            return 10**9

    with pytest.raises(NotImplementedError, match="override cost_bounds"):
        Huge().cost_bounds()
