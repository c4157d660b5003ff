from __future__ import annotations

import json

import pytest

from nasengine.cli.main import main
from nasengine.registry import get_space
from nasengine.search.config import SearchConfig
from nasengine.search.rankcheck import rank_check
from nasengine.search.runner import run_search
from nasengine.search.tabulate import tabulate
from nasengine.utils.stats import kendall_tau

SPACE = dict(backbone="small", input_size=8, num_classes=10, in_channels=1, stem_width=4, stage_widths=[4, 8],
             stage_repeats=[1, 1], widths=[0.5, 1.0], rounding="floor", search_last=False)


def test_rank_check_against_a_table_compares_every_feasible_arch(tmp_path, capsys):
    space = get_space("channel_width", **SPACE)
    table = tabulate(space, tmp_path / "table.json", seeds=2, progress=False, epochs=1, max_steps=3)
    limit = sorted(e["macs"] for e in table["entries"])[-3]
    run = tmp_path / "spos"
    run_search(SearchConfig(space="channel_width", space_config=SPACE, strategy="spos", dataset="digits",
                            pretrain_epochs=1, pretrain_options={"max_steps": 3}, max_macs=limit, trials=2,
                            out=str(run)), progress=False)
    check = rank_check(run, table=tmp_path / "table.json", progress=False)
    feasible = {e["id"]: e for e in table["entries"] if e["macs"] <= limit}
    assert {r.arch_id for r in check.rows} == set(feasible) and check.samples == len(feasible)
    assert all(r.standalone_seeds == tuple(feasible[r.arch_id]["accs"]) for r in check.rows)  # nothing retrained
    assert check.kendall_tau == pytest.approx(kendall_tau([r.oneshot_acc for r in check.rows],
                                                          [r.standalone_acc for r in check.rows]))
    assert json.loads((run / "result.json").read_text())["rankcheck"]["samples"] == len(feasible)
    # a table of another config is refused, as a replay would be
    other = get_space("channel_width", **{**SPACE, "stem_width": 8})
    tabulate(other, tmp_path / "other.json", progress=False, epochs=1, max_steps=1)
    assert main(["rankcheck", str(run), "--table", str(tmp_path / "other.json")]) == 2
    assert "was made for space" in capsys.readouterr().err
