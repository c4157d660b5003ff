"""Supernet pretraining killed (SIGKILL) or preempted (SIGTERM) in the middle of an epoch:
the rerun resumes and ends with the weights of an uninterrupted run, and the search after it
completes exactly its trials."""

from __future__ import annotations

import json
import signal
import time

import pytest
import torch

from supernet.spos import CHECKPOINT, TRAIN_STATE
from tests.kill_helpers import run, signal_and_wait, start, wait_until
from tests.supernet.oneshot_helpers import TINY_ARGS

TRIALS = 4
SPOS = ["search", "--space", "shufflenet", *TINY_ARGS, "--strategy", "spos", "--pretrain-epochs", "6",
        "--pretrain-set", "batch_size=32", "--trials", str(TRIALS), "--top-k", "1", "--quiet"]


def _weights(out):
    return torch.load(out / CHECKPOINT, weights_only=True)["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("spos") / "whole"
    done = run(*SPOS, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_pretraining_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(signum, uninterrupted, tmp_path):
    out = tmp_path / "run"
    proc = start(*SPOS, "--out", str(out))
    # The first epoch's checkpoint is written: the process is inside the second epoch now.
    wait_until(lambda: (out / TRAIN_STATE).exists(), proc, "the first pretraining checkpoint")
    time.sleep(0.3)  # a few steps into the second epoch, not on its boundary
    err = signal_and_wait(proc, signum)
    # A kill ends the process outright; SIGTERM is handled and exits with 128 + 15.
    assert proc.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 143), err
    assert "Traceback" not in err and not (out / CHECKPOINT).exists()
    saved = torch.load(out / TRAIN_STATE, weights_only=True)
    assert 0 < len(saved["history"]) < 6  # stopped inside pretraining
    if signum == signal.SIGTERM:  # saved like Ctrl-C: the steps of the epoch in flight too
        assert "terminated by SIGTERM; finished work is saved" in err
        assert saved["step"] > saved["history"][-1]["step"]

    resumed = run(*SPOS, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {out / TRAIN_STATE}: step {saved['step']} of " in resumed.stderr
    want, got = _weights(uninterrupted), _weights(out)
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key
    result = json.loads((out / "result.json").read_text())
    assert result["completed"] == TRIALS
    assert [t["arch_id"] for t in result["trials"]] == [
        t["arch_id"] for t in json.loads((uninterrupted / "result.json").read_text())["trials"]]
