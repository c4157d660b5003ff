from __future__ import annotations

import collections
import itertools

import pytest
from scipy.stats import chisquare

import nasengine
from nasengine.constraints import ConstraintError, Constraints
from nasengine.testing.controllers import SMALL
from supernet.sampling import PathSampler, SamplingConfig, SamplingError, step_rng


@pytest.fixture(scope="module")
def space():
    return nasengine.get_space("shufflenet", **SMALL)


@pytest.fixture(scope="module")
def every_arch(space):
    decisions = space.decisions()
    return [space.arch(dict(zip((d.name for d in decisions), combo)))
            for combo in itertools.product(*(d.options for d in decisions))]


def _median_macs(space, archs):
    return sorted(space.cost(a).macs for a in archs)[len(archs) // 2]


def _assert_option_frequencies(space, drawn, population):
    """Per decision, the drawn options follow their frequencies in ``population``."""
    for d in space.decisions():
        expected = collections.Counter(a.choices[d.name] for a in population)
        seen = collections.Counter(a.choices[d.name] for a in drawn)
        options = sorted(expected)
        exp = [expected[o] / len(population) * len(drawn) for o in options]
        assert set(seen) <= set(options)
        assert chisquare([seen[o] for o in options], exp).pvalue > 1e-3, (d.name, seen, exp)


def test_uniform_is_uniform_over_the_feasible_architectures(space, every_arch):
    limit = _median_macs(space, every_arch)
    feasible = [a for a in every_arch if space.cost(a).macs <= limit]
    sampler = PathSampler(space, Constraints(max_macs=limit))
    drawn = [sampler(step_rng(0, i)) for i in range(3000)]
    assert all(space.cost(a).macs <= limit for a in drawn)
    _assert_option_frequencies(space, drawn, feasible)
    # Under the limit the block options are far from uniform: the test can tell.
    assert collections.Counter(a.choices["block4"] for a in feasible)["xception"] < len(feasible) / 4


def test_binned_draws_bins_uniformly_and_uniformly_inside_a_bin(space, every_arch):
    limit = _median_macs(space, every_arch)
    sampler = PathSampler(space, Constraints(max_macs=limit), mode="binned", bins=4)
    low, _ = space.cost_bounds()
    assert sampler.edges[0] == low.macs and sampler.edges[-1] == limit
    drawn = [sampler(step_rng(1, i)) for i in range(2000)]
    bins = [sampler.bin_of(space.cost(a)) for a in drawn]
    assert None not in bins and all(space.cost(a).macs <= limit for a in drawn)
    assert chisquare([bins.count(b) for b in range(4)]).pvalue > 1e-3
    # Uniform sampling would put far fewer in the cheapest bin.
    uniform = [sampler.bin_of(space.cost(a)) for a in every_arch if space.cost(a).macs <= limit]
    assert uniform.count(0) / len(uniform) < 0.6 * bins.count(0) / len(bins)
    inside = [a for a, b in zip(drawn, bins) if b == 2]
    population = [a for a in every_arch if space.cost(a).macs <= limit and sampler.bin_of(space.cost(a)) == 2]
    _assert_option_frequencies(space, inside, population)


def test_rare_bins_of_a_large_space_are_reached_by_the_walk():
    space = nasengine.get_space("shufflenet")  # 4^20 archs: the extreme bins are ~1e-6 likely
    sampler = PathSampler(space, mode="binned", bins=10, max_tries=20)
    for index in (0, 9):
        arch = sampler.sample_bin(index, 3)
        assert sampler.bin_of(space.cost(arch)) == index


def test_an_empty_bin_is_a_clear_error(space, every_arch):
    sampler = PathSampler(space, mode="binned", bins=300, max_tries=50, walk_steps=0)
    occupied = {sampler.bin_of(space.cost(a)) for a in every_arch}
    empty = next(b for b in range(300) if b not in occupied)
    with pytest.raises(SamplingError, match=f"bin {empty} .* holds no architecture"):
        sampler.sample_bin(empty, 0)


def test_infeasible_limits_and_bad_settings_are_errors(space, every_arch):
    low, _ = space.cost_bounds()
    with pytest.raises(ConstraintError, match="below the minimum"):
        PathSampler(space, Constraints(max_macs=low.macs - 1))
    cheapest = min(every_arch, key=lambda a: space.cost(a).macs)
    tight = PathSampler(space, Constraints(max_macs=space.cost(cheapest).macs), max_tries=3)
    with pytest.raises(SamplingError, match="in 3 random draws"):
        for i in range(20):
            tight(i)
    for bad, match in [(dict(mode="fair"), "mode must be one of"), (dict(bins=0), "bins"),
                       (dict(bin_by="latency"), "bin_by"), (dict(walk_steps=-1), "walk_steps")]:
        with pytest.raises(ValueError, match=match):
            SamplingConfig(**bad)


def test_the_path_depends_only_on_seed_and_step(space):
    sampler = PathSampler(space, mode="binned", bins=3)
    assert [sampler(step_rng(5, s)).id for s in range(10)] == [sampler(step_rng(5, s)).id for s in range(10)]
    assert [sampler(step_rng(5, s)).id for s in range(10)] != [sampler(step_rng(6, s)).id for s in range(10)]
