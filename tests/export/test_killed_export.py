"""``nasengine export`` killed (SIGKILL) between architectures: the same command run again
finishes the export without --force and leaves no staged files behind."""

from __future__ import annotations

import json
import signal

import pytest

from nasengine.search.config import SearchConfig
from nasengine.search.runner import run_search
from nasengine.testing.controllers import SMALL
from tests.kill_helpers import run, signal_and_wait, start, wait_until

TOP = 3


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    run_search(SearchConfig(space="shufflenet", space_config=dict(SMALL), controller="random", epochs=1, trials=TOP,
                            top_k=TOP, out=str(out)), progress=False)
    return out


def _exported(folder):
    """Finished export folders (a staging folder ".<id>.xxxx" holds arch.json just before its rename)."""
    return sorted(p.parent.name for p in folder.glob("*/arch.json") if not p.parent.name.startswith("."))


@pytest.mark.slow
def test_a_killed_export_finishes_when_run_again(trained_run, tmp_path):
    out = tmp_path / "exports"
    argv = ("export", str(trained_run), "--top-k", str(TOP), "--out", str(out))
    proc = start(*argv)
    wait_until(lambda: len(_exported(out)) >= 1, proc, "the first architecture's export")
    signal_and_wait(proc, signal.SIGKILL)
    before = _exported(out)
    assert 1 <= len(before) < TOP  # killed while the next architectures were being exported
    first = {name: (out / name / "arch.json").read_text() for name in before}

    again = run(*argv)
    assert again.returncode == 0, again.stderr
    assert _exported(out) == sorted(p.name for p in out.iterdir())  # no staged leftovers (".<id>.xxxx")
    assert len(_exported(out)) == TOP
    for name in _exported(out):  # each folder whole: the model files, their parity and the record
        files = {p.name for p in (out / name).iterdir()}
        assert {"arch.json", "parity.json", "weights.pt"} <= files, files
        assert json.loads((out / name / "parity.json").read_text())
    assert {name: (out / name / "arch.json").read_text() for name in before} == first
    # Another command's folder (or an export of other settings) is still refused.
    other = run("export", str(trained_run), "--top-k", str(TOP), "--out", str(out), "--format", "state_dict")
    assert other.returncode == 2 and "already exists" in other.stderr
