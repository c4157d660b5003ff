"""Reusable conformance checks for search-space plug-ins.

A third-party space passes the same checks as the built-ins::

    from nasengine.testing.spaces import SPACE_CHECKS

    @pytest.mark.parametrize("check", SPACE_CHECKS, ids=lambda c: c.__name__)
    def test_my_space(check):
        check(MySpace(input_size=32, num_classes=10))

Each check asserts real behaviour on real computations; keep the config small.
"""

from __future__ import annotations

import random
from typing import Callable

import torch

from nasengine.arch import Arch, ArchError
from nasengine.cost import count_cost
from nasengine.nn import inherit_weights, select_path
from nasengine.space import SearchSpace


def check_decisions(space: SearchSpace) -> None:
    """Decisions have unique names and at least one option; size is their product."""
    decisions = space.decisions()
    assert decisions, "a space needs at least one decision"
    names = [d.name for d in decisions]
    assert len(names) == len(set(names)), f"duplicate decision names: {names}"
    assert space.size() >= 1


def check_sample_build_forward(space: SearchSpace) -> None:
    """Sampled archs validate, build, and map a batch to class logits."""
    for seed in range(2):
        arch = space.sample(seed)
        assert space.arch(arch.choices) == arch
        model = space.build(arch).eval()
        with torch.no_grad():
            out = model(torch.randn(space.input_shape(batch=2)))
        assert out.shape == (2, space.config.num_classes), out.shape
        assert torch.isfinite(out).all()


def check_sampling_is_seeded(space: SearchSpace) -> None:
    """The same seed gives the same arch; different seeds explore."""
    assert space.sample(123) == space.sample(random.Random(123))
    if space.size() > 1:
        assert len({space.sample(s).id for s in range(20)}) > 1


def check_json_round_trip(space: SearchSpace) -> None:
    arch = space.sample(7)
    again = Arch.from_json(arch.to_json())
    assert again == arch and again.id == arch.id


def check_cost_matches_fvcore(space: SearchSpace, samples: int = 3) -> None:
    """The analytic cost equals fvcore's count of the built network, exactly."""
    archs = [space.sample(seed) for seed in range(samples)] + list(space.presets().values())
    for arch in archs:
        assert space.cost(arch) == count_cost(space.build(arch), space.input_shape()), arch.choices


def check_cost_bounds(space: SearchSpace) -> None:
    """Every sampled cost lies within ``cost_bounds``."""
    low, high = space.cost_bounds()
    assert low.macs <= high.macs and low.params <= high.params
    for seed in range(50):
        cost = space.cost(space.sample(seed))
        assert low.macs <= cost.macs <= high.macs
        assert low.params <= cost.params <= high.params


def check_invalid_archs_rejected(space: SearchSpace) -> None:
    """Unknown, missing and bad values raise ``ArchError`` naming the decision."""
    choices = dict(space.sample(0).choices)
    first = space.decisions()[0]
    _expect_error(space, {**choices, "no_such_decision": 1}, "no_such_decision")
    _expect_error(space, {k: v for k, v in choices.items() if k != first.name}, first.name)
    error = _expect_error(space, {**choices, first.name: "not-an-option"}, first.name)
    assert str(list(first.options)) in error or repr(first.options[0]) in error, error


def check_supernet_inheritance(space: SearchSpace) -> None:
    """A standalone net with inherited weights computes what the supernet path computes."""
    net = space.network().eval()
    with torch.no_grad():
        for p in net.parameters():  # non-trivial weights so a slicing bug shows
            p.add_(torch.randn_like(p) * 0.05)
    randomize_batchnorm(net)
    x = torch.randn(space.input_shape(batch=2))
    for seed in range(2):
        arch = space.sample(seed)
        select_path(net, arch)
        model = space.build(arch, from_supernet=net).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), net(x), rtol=1e-4, atol=1e-5)
    standalone = space.build(space.sample(0))
    assert inherit_weights(standalone, net) is standalone


def randomize_batchnorm(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters, so that a
    slicing mistake in weight inheritance changes outputs instead of hiding."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if (isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None
                    and m.running_var is not None):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                if m.affine and m.weight is not None and m.bias is not None:
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net


def _expect_error(space: SearchSpace, choices: dict, needle: str) -> str:
    try:
        space.arch(choices)
    except ArchError as exc:
        assert needle in str(exc), f"error does not name {needle!r}: {exc}"
        return str(exc)
    raise AssertionError(f"invalid choices accepted: {choices}")


SPACE_CHECKS: list[Callable[[SearchSpace], None]] = [
    check_decisions,
    check_sample_build_forward,
    check_sampling_is_seeded,
    check_json_round_trip,
    check_cost_matches_fvcore,
    check_cost_bounds,
    check_invalid_archs_rejected,
    check_supernet_inheritance,
]
