"""Tests of ``nasengine bench metapruning`` (tiny budget)."""

from __future__ import annotations

import argparse

import pytest

import nasengine
from nasengine.bench.base import BENCH_SUITES
from supernet.bench_metapruning import SPACE_CONFIG, uniform_arch


def _args(*argv: str) -> argparse.Namespace:
    """The suite's own options, parsed as ``nasengine bench metapruning`` would."""
    parser = argparse.ArgumentParser()
    BENCH_SUITES.get("metapruning").add_arguments(parser)
    return parser.parse_args(list(argv))


def _run(*argv: str) -> list[dict]:
    return BENCH_SUITES.get("metapruning").run(_args(*argv))


def test_uniform_arch_is_the_widest_uniform_net_within_the_limit() -> None:
    space = nasengine.get_space("channel_width", **SPACE_CONFIG)
    half = space.cost(space.arch({d.name: 0.5 for d in space.decisions()})).macs
    arch = uniform_arch(space, half)
    assert set(arch.choices.values()) == {0.5}
    assert set(uniform_arch(space, half - 1).choices.values()) == {0.375}
    with pytest.raises(ValueError, match="no uniform-width network fits"):
        uniform_arch(space, 1000)


@pytest.mark.slow
def test_bench_compares_metapruning_with_uniform_widths() -> None:
    rows = {r["method"]: r for r in _run("--seeds", "2", "--trials", "4", "--pretrain-epochs", "1",
                                         "--retrain-epochs", "1")}
    assert set(rows) == {"metapruning", "uniform"}
    for row in rows.values():
        assert row["macs"] <= row["max_macs"] and row["params"] > 0
        assert len(row["test_accs"]) == 2 and 0 <= row["test_acc_std"]
        assert 0 < row["test_acc_mean"] <= 1 and 0 < row["pruningnet_val_acc"] <= 1
    assert set(rows["uniform"]["choices"].values()) == {0.5}  # default limit: the uniform 0.5x net
    assert rows["uniform"]["macs"] == rows["uniform"]["max_macs"]
    assert rows["metapruning"]["trials"] == 4 and rows["metapruning"]["pretrain_s"] > 0


def test_bench_options_and_defaults() -> None:
    args = _args()
    assert (args.seeds, args.trials, args.pretrain_epochs, args.retrain_epochs, args.max_macs) == (10, 50, 30, 30, None)


def test_bench_rejects_an_unreachable_limit() -> None:
    with pytest.raises(ValueError, match="below the minimum"):
        _run("--max-macs", "1K")
    with pytest.raises(ValueError, match="--retrain-epochs must be >= 1"):
        _run("--retrain-epochs", "0")
    with pytest.raises(ValueError, match="--seeds must be >= 1"):
        _run("--seeds", "0")
