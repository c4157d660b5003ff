"""Supernet pretraining under ``torchrun --max-restarts`` (2 gloo processes on CPU): one rank
killed mid-epoch, the group restarts, resumes from the last epoch's checkpoint and ends with
the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from supernet.spos import CHECKPOINT, TRAIN_STATE
from tests.kill_helpers import ENV, ROOT, wait_until
from tests.supernet.oneshot_helpers import TINY_ARGS

TRIALS = 4
# --resume from the start: torchrun restarts the same command line.
SEARCH = ["search", "--space", "shufflenet", *TINY_ARGS, "--strategy", "spos", "--pretrain-epochs", "6",
          "--pretrain-set", "batch_size=32", "--trials", str(TRIALS), "--top-k", "1", "--quiet", "--resume"]


def _torchrun(out: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "--max-restarts", "1", "-m", "nasengine", *SEARCH, "--out", str(out)]
    # A session of its own: a failed test can end the launcher and its ranks together.
    return subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The process of ``rank`` in the first round the launcher started."""
    for pid in _descendants(launcher):
        try:
            env = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
        except OSError:
            continue
        if env.get("RANK") == str(rank) and env.get("TORCHELASTIC_RESTART_COUNT") == "0":
            return pid
    return None


def _finish(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return err


@pytest.fixture
def torchrun():
    """Launches ``_torchrun``; after the test, kills what still runs (launcher and ranks)."""
    launched: list[subprocess.Popen] = []

    def launch(out: Path) -> subprocess.Popen:
        launched.append(_torchrun(out))
        return launched[-1]

    yield launch
    for proc in launched:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_a_rank_killed_mid_epoch_restarts_and_ends_with_the_uninterrupted_weights(torchrun, tmp_path):
    whole = torchrun(tmp_path / "whole")
    assert "has no trials yet: starting it" in _finish(whole)  # --resume on a new folder begins it
    out = tmp_path / "killed"
    proc = torchrun(out)
    # The first epoch's checkpoint is written: both ranks are inside the second epoch.
    wait_until(lambda: (out / TRAIN_STATE).exists(), proc, "the first pretraining checkpoint")
    victim = _rank_pid(proc.pid, 1)
    assert victim is not None
    epochs_before = len(torch.load(out / TRAIN_STATE, weights_only=True)["history"])
    os.kill(victim, signal.SIGKILL)
    err = _finish(proc)

    assert f"resuming from {out / TRAIN_STATE}: step " in err
    assert epochs_before < 6
    want = torch.load(tmp_path / "whole" / CHECKPOINT, weights_only=True)["model"]
    got = torch.load(out / CHECKPOINT, weights_only=True)["model"]
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key
    # The same supernet and seed: the search after it finds the same architectures.
    result, reference = (json.loads((folder / "result.json").read_text()) for folder in (out, tmp_path / "whole"))
    assert result["completed"] == TRIALS
    assert [t["arch_id"] for t in result["trials"]] == [t["arch_id"] for t in reference["trials"]]
