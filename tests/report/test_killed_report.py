"""``nasengine report`` killed (SIGKILL) while it retrains: the same command run again keeps
every finished training, trains each network exactly its seeds, and writes the whole report."""

from __future__ import annotations

import json
import signal

import pytest

from nasengine.search.config import SearchConfig
from nasengine.search.runner import run_search
from nasengine.testing.controllers import SMALL
from tests.kill_helpers import run, signal_and_wait, start, wait_until

SEEDS = 2


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    run_search(SearchConfig(space="shufflenet", space_config=dict(SMALL), controller="random", epochs=1, trials=3,
                            top_k=2, out=str(out)), progress=False)
    return out


def _records(out):
    return {p: p.read_text() for p in (out / "cache").rglob("seed*.json")}


@pytest.mark.slow
def test_a_killed_report_keeps_finished_trainings_and_completes_when_run_again(search_run, tmp_path):
    out = tmp_path / "report"
    argv = ("report", str(search_run), "--top-k", "2", "--random", "1", "--seeds", str(SEEDS), "--epochs", "3",
            "--latency-runs", "3", "--out", str(out), "--quiet")
    proc = start(*argv)
    wait_until(lambda: (out / "cache").is_dir() and len(_records(out)) >= 1, proc, "the first finished training")
    signal_and_wait(proc, signal.SIGKILL)
    finished = _records(out)
    assert not (out / "report.md").exists()  # killed inside the retraining

    again = run(*argv)
    assert again.returncode == 0, again.stderr
    after = _records(out)
    assert {p: after[p] for p in finished} == finished  # kept, not trained again
    networks = {p.parent.parent for p in after}  # cache/<network>/<settings>/seedN.json
    assert len(networks) >= 2 and len(after) == SEEDS * len(networks)  # every network, exactly its seeds
    assert all(sorted(p.name for p in after if p.parent.parent == n) == ["seed0.json", "seed1.json"]
               for n in networks)
    assert not list((out / "cache").rglob("*.ckpt"))  # no half-trained state left behind
    for record in after.values():
        assert json.loads(record)["epochs"] == 3
    assert "## Found architectures vs baselines" in (out / "report.md").read_text()
