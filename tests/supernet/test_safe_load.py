"""Every file the one-shot methods read back (SPOS, MetaPruning, ENAS, the supernet
evaluator's ``checkpoint=`` and ``rankcheck``) is refused, without running code from it,
when it is corrupt or holds a planted payload."""

from __future__ import annotations

import pytest

from nasengine.search.config import SearchConfig
from supernet import enas, metapruning, spos
from tests.cli_helpers import run_cli
from tests.payload_helpers import KINDS, assert_refused, damage
from tests.supernet.oneshot_helpers import TINY, TINY_ARGS

SHUFFLENET = ["--space", "shufflenet", *TINY_ARGS]
CHANNEL_WIDTH = ["--space", "channel_width", "--set", "backbone=small", "--set", "input_size=8", "--set",
                 "in_channels=1", "--set", "rounding=floor", "--set", "num_classes=10"]
#: One-shot searches in a folder that already holds the file: each reads it before training anything.
SEARCHES = {
    "spos training state": (["--strategy", "spos", *SHUFFLENET], spos.TRAIN_STATE),
    "spos supernet": (["--strategy", "spos", *SHUFFLENET], spos.CHECKPOINT),
    "metapruning training state": (["--strategy", "metapruning", *CHANNEL_WIDTH], metapruning.TRAIN_STATE),
    "metapruning pruningnet": (["--strategy", "metapruning", *CHANNEL_WIDTH], metapruning.CHECKPOINT),
    "enas shared weights": (["--strategy", "enas", *SHUFFLENET], enas.STATE_FILE),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", SEARCHES)
def test_one_shot_search_refuses_a_bad_state_file(case, kind, tmp_path, capsys):
    argv, name = SEARCHES[case]
    out, marker = tmp_path / "run", tmp_path / "ran"
    bad = damage(kind, out / name, marker)
    code, _, err = run_cli(capsys, "search", *argv, "--pretrain-epochs", "1", "--trials", "2", "--out", str(out),
                           "--quiet")
    assert_refused(code, err, bad, marker)


@pytest.mark.parametrize("kind", KINDS)
def test_supernet_evaluator_refuses_a_bad_checkpoint(kind, tmp_path, capsys):
    marker = tmp_path / "ran"
    bad = damage(kind, tmp_path / "supernet.pt", marker)
    code, _, err = run_cli(capsys, "search", *SHUFFLENET, "--evaluator", "supernet", "--evaluator-set",
                           f"checkpoint={bad}", "--trials", "2", "--out", str(tmp_path / "run"), "--quiet")
    assert_refused(code, err, bad, marker)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("strategy, name", [("spos", spos.CHECKPOINT), ("enas", enas.STATE_FILE)])
def test_rankcheck_refuses_a_bad_one_shot_network(strategy, name, kind, tmp_path, capsys):
    run, marker = tmp_path / "run", tmp_path / "ran"
    run.mkdir()
    SearchConfig(space="shufflenet", space_config=dict(TINY), strategy=strategy, pretrain_epochs=1,
                 out=str(run)).save(run / "config.yaml")
    bad = damage(kind, run / name, marker)
    code, _, err = run_cli(capsys, "rankcheck", str(run), "--samples", "2", "--epochs", "1", "--quiet")
    assert_refused(code, err, bad, marker)
    assert not (run / "rankcheck").exists()
