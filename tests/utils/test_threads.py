"""Thread counts: ``OMP_NUM_THREADS`` or the host's cores shared among a study's workers here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from nasengine.utils.threads import default_threads, host_cores, registered_worker, use_threads, workers_folder


def test_default_divides_the_cores_among_workers(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads() == host_cores()
    assert default_threads(workers=host_cores() * 4) == 1  # never below one
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(workers=8) == 3  # the user's per-process choice wins


@pytest.mark.parametrize("bad", [0, -2, True, 1.5])
def test_use_threads_refuses_non_positive_counts(bad):
    with pytest.raises(ValueError, match="--threads must be an integer >= 1"):
        use_threads(bad)


def test_use_threads_sets_torch():
    before = torch.get_num_threads()
    try:
        assert use_threads(1) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_workers_of_one_study_count_each_other_and_stale_files_are_dropped(tmp_path):
    key = f"sqlite:///{tmp_path / 'study.db'} search"
    folder = workers_folder(key)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / dead.stdout.strip()).touch()  # a worker killed before it removed its file
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / str(other.pid)).touch()
        with registered_worker(key) as workers:
            assert workers == 2 and (folder / str(os.getpid())).exists()
            assert not (folder / dead.stdout.strip()).exists()
        assert not (folder / str(os.getpid())).exists()
    finally:
        other.kill()
        other.wait()
        (folder / str(other.pid)).unlink(missing_ok=True)
    with registered_worker(f"{key} other") as workers:
        assert workers == 1
