"""``nasengine dynamic train`` resumes from ``checkpoint.pt`` without running code from it."""

from __future__ import annotations

import pytest

from tests.cli_helpers import run_cli
from tests.dynamic.test_cli_dynamic import TINY
from tests.payload_helpers import KINDS, assert_refused, damage


@pytest.mark.parametrize("kind", KINDS)
def test_dynamic_train_refuses_a_bad_checkpoint(kind, tmp_path, capsys):
    out, marker = tmp_path / "run", tmp_path / "ran"
    bad = damage(kind, out / "checkpoint.pt", marker)
    code, _, err = run_cli(capsys, "dynamic", "train", "--method", "rnp", *TINY, "--out", str(out))
    assert_refused(code, err, bad, marker)
    assert not (out / "metrics.json").exists()
