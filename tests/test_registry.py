from __future__ import annotations

import pytest

import nasengine
from nasengine.registry import Registry
from tests.toy_space import ToySpace


def test_builtins_come_from_entry_points():
    assert {"shufflenet", "nas_cell", "channel_width", "layers"} <= set(nasengine.list_spaces())
    assert nasengine.SPACES.get("shufflenet").__module__.startswith("search_spaces.")


def test_registering_a_name_twice_is_an_error():
    reg: Registry[object] = Registry("thing", "nasengine.no_such_group")
    reg.register("a", object())
    with pytest.raises(ValueError, match="'a' is already registered"):
        reg.register("a", object())
    with pytest.raises(ValueError, match="already registered"):
        nasengine.SPACES.register("shufflenet", ToySpace)


def test_unknown_name_lists_available():
    with pytest.raises(KeyError, match="unknown search space 'nope'.*shufflenet"):
        nasengine.get_space("nope")


def test_get_space_passes_config():
    space = nasengine.get_space("toy", num_classes=3)
    assert space.config.num_classes == 3 and isinstance(space, ToySpace)


def test_create_rejects_unknown_options_by_name():
    reg: Registry[object] = Registry("thing", "nasengine.no_such_group")

    def factory(space, *, size=1, depth=2):
        return (space, size, depth)

    reg.register("f", factory)
    assert reg.create("f", "s", size=3) == ("s", 3, 2)
    with pytest.raises(ValueError, match=r"thing 'f' has no option\(s\) \['sise'\]; its options are \['size', 'depth'\]"):
        reg.create("f", "s", sise=3)
