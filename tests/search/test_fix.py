"""``--fix NAME=OPTION``: decisions pinned in every trial, checked before anything runs,
kept by a resumed search."""

from __future__ import annotations

import json

import pytest
import yaml

from nasengine.cli.main import main
from tests.search_helpers import SPACE_ARGS, synthetic_table


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return synthetic_table(tmp_path_factory.mktemp("table") / "table.json")


def _search(table, out, *extra):
    return main(["search", "--space", "shufflenet", *SPACE_ARGS, "--evaluator", f"table:{table}", "--strategy", "evolution",
                 "--out", str(out), "--quiet", *extra])


def test_fixed_decisions_are_in_every_trial_and_the_rest_is_searched(table, tmp_path):
    assert _search(table, tmp_path / "run", "--trials", "8", "--fix", "block0=k5", "--fix", "block3=xception") == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    trials = result["trials"]
    assert len(trials) == 8 and all(t["state"] == "COMPLETE" for t in trials)
    assert {(t["choices"]["block0"], t["choices"]["block3"]) for t in trials} == {("k5", "xception")}
    assert len({t["choices"]["block1"] for t in trials}) > 1  # the free decisions still vary
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["fix"] == {"block0": "k5", "block3": "xception"}
    # A resume must keep the pins; the same pins resume.
    assert _search(table, tmp_path / "run", "--trials", "10", "--fix", "block0=k3", "--resume") == 2
    assert _search(table, tmp_path / "run", "--trials", "10", "--resume") == 2
    assert _search(table, tmp_path / "run", "--trials", "10", "--fix", "block0=k5", "--fix", "block3=xception",
                   "--resume") == 0
    resumed = json.loads((tmp_path / "run" / "result.json").read_text())["trials"]
    assert len(resumed) == 10 and {t["choices"]["block0"] for t in resumed} == {"k5"}


def test_yaml_fix_is_the_command_lines(table, tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text("fix: {block2: k7}\ntrials: 3\n")
    assert _search(table, tmp_path / "run", "--config", str(path)) == 0
    trials = json.loads((tmp_path / "run" / "result.json").read_text())["trials"]
    assert [t["choices"]["block2"] for t in trials] == ["k7"] * 3


@pytest.mark.parametrize("fix, message", [
    ("block0=k9", "cannot fix block0='k9': the options of 'block0' are ['k3', 'k5', 'k7', 'xception']"),
    ("depth=2", "cannot fix 'depth': not a decision of space 'shufflenet'"),
    ("block0", "--fix expects NAME=VALUE, got 'block0'"),
])
def test_a_bad_fix_is_one_line_exit_2_before_anything_runs(table, tmp_path, capsys, fix, message):
    assert _search(table, tmp_path / "run", "--trials", "2", "--fix", fix) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_pins_that_no_architecture_under_the_limit_has_are_refused_before_anything_runs(table, tmp_path, capsys):
    # block0=k7 costs >= 37K MACs whatever the rest; the space's cheapest arch is 27K
    assert _search(table, tmp_path / "run", "--trials", "2", "--max-macs", "30K", "--fix", "block0=k7") == 2
    err = capsys.readouterr().err
    assert "--fix: no feasible architecture of 'shufflenet' with {'block0': 'k7'} fixed" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
