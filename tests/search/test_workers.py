"""Several workers on one study, on SQLite and on PostgreSQL: exact counts, one evaluation per
architecture, one result, shared weights, dead workers' trials re-run and live ones left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest

from nasengine.cli.main import main
from nasengine.search.claims import Claims
from nasengine.search.config import SearchConfig, SearchError
from nasengine.search.runner import run_search
from nasengine.search.study import connect as _connect
from nasengine.search.study import requeue_failed
from nasengine.testing.controllers import SMALL, small_space
from nasengine.utils.files import jsonable, save_json_atomic
from tests.search_helpers import SPACE_ARGS, synthetic_table

#: Four decisions pinned: the space holds 4 architectures, so workers propose the same ones often.
FIX = [item for b in range(4) for item in ("--fix", f"block{b}=k3")]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return synthetic_table(tmp_path_factory.mktemp("table") / "table.json")


def _worker(out: Path, storage: str, study: str, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "nasengine", "search", "--space", "shufflenet", *SPACE_ARGS, "--strategy", "random",
            "--out", str(out), "--storage", storage, "--study", study, "--quiet", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), [err for _, err in outputs]
    assert not any("Traceback" in err for _, err in outputs), [err for _, err in outputs]
    return [out for out, _ in outputs]


def _check_one_evaluation_per_arch(study: optuna.Study, trials: int) -> list[optuna.trial.FrozenTrial]:
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == trials  # exactly: no overshoot by workers finishing at once
    evaluated = [t for t in done if "reused" not in t.user_attrs]
    assert len({t.user_attrs["arch_id"] for t in evaluated}) == len(evaluated)  # none evaluated twice
    by_number = {t.number: t for t in done}
    for t in done:
        if "reused" in t.user_attrs:  # a reused result is that of a completed trial of the same arch
            source = by_number[t.user_attrs["reused"]]
            assert source.user_attrs["arch_id"] == t.user_attrs["arch_id"] and source.values == t.values
    return done


@pytest.mark.slow
def test_workers_train_each_arch_once_and_agree_on_the_result(storage, tmp_path):
    weights = tmp_path / "shared-weights"
    outs = [tmp_path / f"w{i}" for i in range(2)]
    # The train evaluator (1 epoch on digits), so that there are weights to share and export.
    procs = [_worker(out, storage, tmp_path.name, "--trials", "5", "--epochs", "1", "--top-k", "4",
                     "--weights-dir", str(weights), *FIX) for out in outs]
    printed = _finish(procs)
    study = optuna.load_study(study_name=tmp_path.name, storage=storage)
    done = _check_one_evaluation_per_arch(study, 5)
    # Every worker rebuilt result.json from the storage: the same record, the same best printed.
    results = [(out / "result.json").read_text() for out in outs]
    assert results[0] == results[1]
    assert json.loads(results[0])["completed"] == 5
    assert len({next(line for line in text.splitlines() if line.startswith("best:")) for text in printed}) == 1
    # The weights of every evaluated arch are in the one shared folder, none in a worker's own.
    assert {p.stem for p in weights.glob("*.pt")} == {t.user_attrs["arch_id"] for t in done}
    assert not any((out / "weights").exists() for out in outs)
    for out in outs:  # export works from any worker's folder, whichever worker trained the arch
        assert main(["export", str(out), "--top-k", "4", "--format", "state_dict", "--out", str(out / "again")]) == 0
        assert len(list((out / "again").glob("*/weights.pt"))) == len({t.user_attrs["arch_id"] for t in done})


def _trial_of(study: optuna.Study, pid: int) -> optuna.trial.FrozenTrial | None:
    """The running trial of worker ``pid`` once it is evaluating (its architecture recorded)."""
    return next((t for t in study.trials if t.state.name == "RUNNING" and "arch" in t.user_attrs
                 and t.user_attrs.get("worker", {}).get("pid") == pid), None)


@pytest.mark.slow
def test_four_workers_one_killed_mid_trial_rerun_after_its_heartbeat_expires(storage, table, tmp_path):
    study_name = tmp_path.name
    beat = ["--heartbeat-interval", "1", "--heartbeat-grace", "3"]
    # Each evaluation takes 1 s: long enough to be killed in the middle of one.
    common = ["--evaluator", f"table:{table}", "--evaluator-set", "seconds=1", "--trials", "12",
              "--weights-dir", str(tmp_path / "weights")]
    victim = _worker(tmp_path / "a", storage, study_name, *common, *beat)
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and victim.poll() is None:
        time.sleep(0.2)
        try:
            killed = _trial_of(optuna.load_study(study_name=study_name, storage=storage), victim.pid)
        except KeyError:  # the study does not exist yet
            pass
    assert killed is not None, victim.stderr.read() if victim.poll() is not None else "no trial started"
    live = [_worker(tmp_path / name, storage, study_name, *common) for name in "bc"]  # join the running study
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    study = optuna.load_study(study_name=study_name, storage=storage)
    # As if the worker had run on another machine: only its heartbeat can tell that it died.
    study._storage.set_trial_user_attr(killed._trial_id, "worker", {"host": "elsewhere", "pid": 1})
    joiner = _worker(tmp_path / "d", storage, study_name, *common, "--resume")  # the fourth worker
    _finish([*live, joiner])
    trials = optuna.load_study(study_name=study_name, storage=storage).trials
    failed = [t for t in trials if t.state.name == "FAIL" and not t.user_attrs.get("surplus")]
    assert [t.number for t in failed] == [killed.number]  # the live workers' trials never failed
    reruns = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(reruns) == 1 and reruns[0].state.name == "COMPLETE"
    assert reruns[0].user_attrs["arch"] == killed.user_attrs["arch"]  # exactly the killed arch
    # Failed only after the grace period: its heartbeat had stopped 3 s earlier at least.
    assert (reruns[0].datetime_start - killed.datetime_start).total_seconds() > 3
    _check_one_evaluation_per_arch(optuna.load_study(study_name=study_name, storage=storage), 12)


def test_claims_give_an_architecture_to_one_trial(storage, tmp_path):
    storage_obj = _connect(SearchConfig(storage=storage, out=str(tmp_path)))
    study = optuna.create_study(storage=storage_obj, study_name=tmp_path.name)
    claims = Claims(storage_obj, study._study_id)
    holders: list[int] = []
    threads = [threading.Thread(target=lambda n=n: holders.append(claims.claim("arch-a", n))) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(holders)) == 1  # eight claims at once, one winner that all agree on
    winner = holders[0]
    assert claims.take_over("arch-a", winner, 100) and not claims.take_over("arch-a", winner, 101)
    assert claims.holder("arch-a") == 100 and claims.claim("arch-b", 3) == 3


def test_a_failed_trial_is_requeued_once_however_many_workers_fail_it(storage, tmp_path):
    # SQLite has no row locks: two workers may both fail one stale trial and both call back.
    storage_obj = _connect(SearchConfig(storage=storage, out=str(tmp_path)))
    study = optuna.create_study(storage=storage_obj, study_name=tmp_path.name)
    space = small_space()
    trial = study.ask()
    trial.set_user_attr("arch", jsonable(dict(space.sample(0).choices)))
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    failed = study.trials[0]
    claims = Claims(storage_obj, study._study_id)
    threads = [threading.Thread(target=requeue_failed, args=(space, claims, study, failed)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    waiting = [t for t in study.trials if t.state.name == "WAITING"]
    assert [t.user_attrs["retry_of"] for t in waiting] == [failed.number]
    assert waiting[0].system_attrs["fixed_params"] == failed.user_attrs["arch"]


def test_a_database_server_needs_a_shared_weights_folder(postgres_server, table, tmp_path):
    base = dict(space="shufflenet", space_config=dict(SMALL), controller="random", evaluator="table",
                evaluator_options={"path": str(table)}, trials=2, storage=postgres_server, study=tmp_path.name)
    with pytest.raises(SearchError, match="--weights-dir"):
        run_search(SearchConfig(**base, out=str(tmp_path / "a")), progress=False)
    cfg = SearchConfig(**base, out=str(tmp_path / "b"), weights_dir=str(tmp_path / "w"), heartbeat_grace=30)
    assert run_search(cfg, progress=False)["completed"] == 2
    # A second worker takes the study's settings, or must give the same ones.
    joined = SearchConfig(**{**base, "trials": 3}, out=str(tmp_path / "c"))
    assert run_search(joined, progress=False)["completed"] == 3
    assert (tmp_path / "c" / "config.yaml").read_text().count(str(tmp_path / "w")) == 1
    with pytest.raises(SearchError, match="--heartbeat-grace 30"):
        run_search(SearchConfig(**{**base, "trials": 4}, out=str(tmp_path / "d"), heartbeat_grace=20), progress=False)


@pytest.mark.parametrize("argv, message", [
    (["--heartbeat-interval", "0"], "heartbeat_interval must be >= 1"),
    (["--heartbeat-grace", "5", "--heartbeat-interval", "5"], "heartbeat_grace must exceed heartbeat_interval"),
    (["--heartbeat-grace", "3"], "heartbeat_grace must exceed heartbeat_interval (10 s)"),
    (["--evaluator-set", "seconds=-1"], "seconds must be a number >= 0"),
])
def test_bad_worker_settings_are_one_line_exit_2(argv, message, table, tmp_path, capsys):
    code = main(["search", "--space", "shufflenet", *SPACE_ARGS, "--evaluator", f"table:{table}", "--trials", "2",
                 "--out", str(tmp_path / "bad"), "--quiet", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_concurrent_writes_of_one_file_never_collide(tmp_path):
    path = tmp_path / "result.json"
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for _ in range(20):
                save_json_atomic({"writer": i}, path)
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and json.loads(path.read_text())["writer"] in range(4)
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left behind
