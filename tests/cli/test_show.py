from __future__ import annotations

import json

import pytest

from nasengine.arch import choices_line
from nasengine.export.export import top_rows
from nasengine.records import SearchResult
from nasengine.search.config import SearchConfig
from nasengine.search.runner import run_search
from nasengine.testing.controllers import SMALL
from tests.cli_helpers import run_cli
from tests.search_helpers import synthetic_table


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A replayed search (no training): 8 trials under a MACs limit, top 2 exported."""
    tmp = tmp_path_factory.mktemp("show")
    table = synthetic_table(tmp / "table.json")
    cfg = SearchConfig(space="shufflenet", space_config=dict(SMALL), controller="random", evaluator="table",
                       evaluator_options={"path": str(table)}, trials=8, top_k=2, max_macs=40_000,
                       out=str(tmp / "run"))
    run_search(cfg, progress=False)
    return tmp / "run"


def test_text_names_the_settings_and_the_best_architectures(table_run, capsys):
    code, out, _ = run_cli(capsys, "show", str(table_run))
    best = top_rows(SearchResult.load(table_run / "result.json"), 2)
    assert code == 0
    assert "strategy" in out and "space shufflenet" in out and "dataset digits" in out
    assert "limits 40K MACs" in out and "trials 8 completed" in out
    assert out.index(best[0].arch_id) < out.index(best[1].arch_id) and "#3" not in out  # the run's own top-k
    assert choices_line(best[0].choices) in out and f"export: {table_run / 'exports' / best[0].arch_id}" in out


def test_json_rows_follow_the_export_ranking(table_run, capsys):
    code, out, _ = run_cli(capsys, "show", str(table_run), "--json", "--top-k", "4")
    data = json.loads(out)
    ranked = top_rows(SearchResult.load(table_run / "result.json"), 4)
    assert code == 0 and data["trials"] == 8 and data["limits"] == {"max_macs": 40_000}
    assert [row["arch_id"] for row in data["top"]] == [r.arch_id for r in ranked]
    assert [row["rank"] for row in data["top"]] == [1, 2, 3, 4]
    first = data["top"][0]
    assert first["choices"] == ranked[0].choices and first["acc"] == ranked[0].acc and first["macs"] <= 40_000
    assert first["export"] and data["top"][3]["export"] is None  # only the top 2 were exported


def test_choices_are_one_name_option_pair_per_decision():
    assert choices_line({"block0": "k3", "channel0": 0.5, "in0": [1, 2]}) == "block0=k3 channel0=0.5 in0=[1,2]"


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "is not a folder"),
    (lambda p: p, "has no result.json"),
])
def test_a_folder_that_is_not_a_run_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    code, _, err = run_cli(capsys, "show", str(make(tmp_path)))
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_broken_result_names_the_file(tmp_path, capsys):
    (tmp_path / "result.json").write_text("{}")
    code, _, err = run_cli(capsys, "show", str(tmp_path))
    assert code == 2 and "result.json" in err and err.count("\n") == 1
