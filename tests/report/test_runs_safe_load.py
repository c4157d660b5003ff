"""``nasengine report`` reads a run's ``controller.pt`` without running code from it."""

from __future__ import annotations

import pytest

from nasengine.cli.main import main
from tests.cli_helpers import run_cli
from tests.payload_helpers import KINDS, assert_refused, damage
from tests.search_helpers import rl_search_argv, synthetic_table


@pytest.mark.parametrize("kind", KINDS)
def test_report_refuses_a_bad_controller_state(kind, tmp_path, capsys):
    out, marker = tmp_path / "run", tmp_path / "ran"
    assert main(rl_search_argv(synthetic_table(tmp_path / "table.json"), out, 2)) == 0
    state = damage(kind, out / "controller.pt", marker)
    code, _, err = run_cli(capsys, "report", str(out), "--out", str(tmp_path / "report"), "--quiet")
    assert_refused(code, err, state, marker)
    assert not (tmp_path / "report").exists()
