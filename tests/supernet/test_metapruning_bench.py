"""Tests of ``nasengine bench metapruning`` (tiny budget)."""

from __future__ import annotations

import json

import pytest

import nasengine
from nasengine.bench.metapruning import SPACE_CONFIG, uniform_arch
from nasengine.cli.main import main


def test_uniform_arch_is_the_widest_uniform_net_within_the_limit() -> None:
    space = nasengine.get_space("channel_width", **SPACE_CONFIG)
    half = space.cost(space.arch({d.name: 0.5 for d in space.decisions()})).macs
    arch = uniform_arch(space, half)
    assert set(arch.choices.values()) == {0.5}
    assert set(uniform_arch(space, half - 1).choices.values()) == {0.375}
    with pytest.raises(ValueError, match="no uniform-width network fits"):
        uniform_arch(space, 1000)


@pytest.mark.slow
def test_bench_compares_metapruning_with_uniform_widths(tmp_path, capsys) -> None:
    out = tmp_path / "metapruning.json"
    code = main(["bench", "metapruning", "--seeds", "2", "--trials", "4", "--pretrain-epochs", "1",
                 "--retrain-epochs", "1", "--out", str(out)])
    assert code == 0
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"metapruning", "uniform"}
    for row in rows.values():
        assert row["macs"] <= row["max_macs"] and row["params"] > 0
        assert len(row["test_accs"]) == 2 and 0 <= row["test_acc_std"]
        assert 0 < row["test_acc_mean"] <= 1 and 0 < row["pruningnet_val_acc"] <= 1
    assert set(rows["uniform"]["choices"].values()) == {0.5}  # default limit: the uniform 0.5x net
    assert rows["uniform"]["macs"] == rows["uniform"]["max_macs"]
    assert rows["metapruning"]["trials"] == 4 and rows["metapruning"]["pretrain_s"] > 0
    assert "test_acc_mean" in capsys.readouterr().out


def test_bench_rejects_an_unreachable_limit(capsys) -> None:
    assert main(["bench", "metapruning", "--max-macs", "1K", "--out", "unused.json"]) == 2
    assert "below the minimum" in capsys.readouterr().err
    assert main(["bench", "metapruning", "--retrain-epochs", "0"]) == 2
    assert "--retrain-epochs must be >= 1" in capsys.readouterr().err
