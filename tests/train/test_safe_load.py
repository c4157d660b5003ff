"""``nasengine train`` resumes from ``checkpoint.pt`` without running code from it."""

from __future__ import annotations

import pytest

from nasengine.testing.controllers import small_space
from tests.cli_helpers import run_cli
from tests.payload_helpers import KINDS, assert_refused, damage
from tests.search_helpers import SPACE_ARGS


@pytest.mark.parametrize("kind", KINDS)
def test_train_refuses_a_bad_checkpoint(kind, tmp_path, capsys):
    out, marker = tmp_path / "run", tmp_path / "ran"
    bad = damage(kind, out / "checkpoint.pt", marker)
    arch = small_space().sample(0).to_json()
    code, _, err = run_cli(capsys, "train", "--arch", arch, *SPACE_ARGS, "--epochs", "1", "--out", str(out),
                           "--quiet")
    assert_refused(code, err, bad, marker)
    assert not (out / "metrics.json").exists()
