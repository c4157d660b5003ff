"""``search --resume`` reads ``controller.pt`` without running code from it."""

from __future__ import annotations

import shutil

import pytest

from nasengine.cli.main import main
from tests.cli_helpers import run_cli
from tests.payload_helpers import KINDS, assert_refused, damage
from tests.search_helpers import rl_search_argv, synthetic_table


@pytest.fixture(scope="module")
def rl_run(tmp_path_factory):
    """A finished 3-trial RL search on a synthetic table, its controller state saved."""
    root = tmp_path_factory.mktemp("rl")
    table = synthetic_table(root / "table.json")
    assert main(rl_search_argv(table, root / "run", 3)) == 0 and (root / "run" / "controller.pt").is_file()
    return table, root / "run"


def _resume(rl_run, tmp_path, capsys, kind=None):
    table, run = rl_run
    out, marker = tmp_path / "run", tmp_path / "ran"
    shutil.copytree(run, out)
    state = out / "controller.pt" if kind is None else damage(kind, out / "controller.pt", marker)
    code, _, err = run_cli(capsys, *rl_search_argv(table, out, 5, "--resume"))
    return code, err, state, marker


def test_a_genuine_controller_state_resumes(rl_run, tmp_path, capsys):
    code, err, _, _ = _resume(rl_run, tmp_path, capsys)
    assert code == 0, err


@pytest.mark.parametrize("kind", KINDS)
def test_search_resume_refuses_a_bad_controller_state(kind, rl_run, tmp_path, capsys):
    code, err, state, marker = _resume(rl_run, tmp_path, capsys, kind)
    assert_refused(code, err, state, marker)
