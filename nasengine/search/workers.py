"""Several workers on one study: exact trial counts, heartbeats, and re-runs of dead workers' trials.

Workers share a study through its RDB storage (a SQLite file or a PostgreSQL server). The
rules that keep them consistent:

* A worker starts a trial only while fewer than ``target`` trials are finished (complete or
  pruned), running or waiting. Two workers may still start one at the same moment, so a new
  trial first counts the live and finished trials numbered before it: when they already fill
  the target it is dropped unevaluated (state ``FAIL``, user attr ``surplus``). Trial numbers
  follow creation order, so at most ``target`` trials finish, and workers keep starting
  trials (or wait for the last running ones) until ``target`` have.
* A running trial beats (``RDBStorage.record_heartbeat``) every ``heartbeat_interval``
  seconds and records its worker (host and process id).
* A trial whose heartbeat is older than the grace period, or whose worker process on this
  host is gone (or that never recorded its worker, and started more than the grace period
  ago), is failed by whichever worker notices first (Optuna's ``fail_stale_trials``
  guarantees one), and that worker re-queues its architecture from the trial's ``arch``
  record, written in one go before evaluation. A trial without that record had not started
  evaluating; a new trial takes its place.
* A worker returns once ``target`` trials have finished, waiting for the last ones other
  workers run, so every worker then sees the same finished study.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
import warnings
from collections import Counter
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

#: Where this process runs, as recorded on each of its trials.
WORKER = {"host": socket.gethostname(), "pid": os.getpid()}

#: Trial states that hold (or will hold) a place in the target count.
LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)

Objective = Callable[[optuna.Trial], Any]
Requeue = Callable[[optuna.Study, FrozenTrial], None]


class Heartbeat:
    """Records the heartbeat of one trial every ``interval`` seconds while in use."""

    def __init__(self, storage: optuna.storages.RDBStorage, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            self.storage.record_heartbeat(self.trial_id)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self.storage.record_heartbeat(self.trial_id)  # before anything else, so the trial is never unwatched
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _dead(trial: FrozenTrial, grace: float) -> bool:
    """Whether the running ``trial``'s worker is known dead without its heartbeat: its process on
    this host is gone, or it died between creating the trial and its first heartbeat (no
    worker record, started more than ``grace`` seconds ago)."""
    worker = trial.user_attrs.get("worker")
    if worker is None:
        started = trial.datetime_start
        return started is not None and (datetime.datetime.now() - started).total_seconds() > grace
    if not isinstance(worker, dict) or worker.get("host") != WORKER["host"] or worker.get("pid") == WORKER["pid"]:
        return False
    try:
        os.kill(int(worker["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, TypeError, OverflowError):
        return False
    return False


def reap(study: optuna.Study, storage: optuna.storages.RDBStorage, requeue: Requeue) -> None:
    """Fail the running trials of dead workers and re-queue them (see the module docstring).

    Live workers' trials are never touched: their heartbeats are fresh and their processes exist.
    """
    with warnings.catch_warnings():  # fail_stale_trials is marked experimental
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)  # calls the storage's stale-trial callback: requeue
    grace = storage.grace_period or 2 * (storage.get_heartbeat_interval() or 1)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _dead(trial, grace):
            try:
                failed = storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                failed = False  # another worker failed it first, and re-queues it
            if failed:
                requeue(study, storage.get_trial(trial._trial_id))


def pause(study: optuna.Study, storage: optuna.storages.RDBStorage, requeue: Requeue) -> None:
    """Wait a moment for other workers (at most a second, at most half a heartbeat), then reap."""
    time.sleep(min(1.0, (storage.get_heartbeat_interval() or 1) / 2))
    reap(study, storage, requeue)


def _surplus(study: optuna.Study, trial: optuna.Trial, target: int) -> bool:
    """Whether the trials numbered before ``trial`` that count already fill the target."""
    ahead = sum(1 for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < trial.number)
    return ahead >= target


def run_trials(study: optuna.Study, storage: optuna.storages.RDBStorage, objective: Objective, *, target: int,
               requeue: Requeue, timeout: float | None = None,
               after_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None) -> None:
    """Run trials of ``study`` until ``target`` have finished (all workers together), or
    ``timeout`` seconds have passed (no new trial starts then).

    ``objective`` is Optuna's: it returns the value(s) or raises ``optuna.TrialPruned``. An
    interrupted trial (``KeyboardInterrupt``) is failed, re-queued and the interrupt re-raised;
    any other error fails the trial and is re-raised.
    """
    interval = storage.get_heartbeat_interval() or 1
    start = time.monotonic()
    while True:
        reap(study, storage, requeue)
        states = Counter(t.state for t in study.get_trials(deepcopy=False))
        finished = states[TrialState.COMPLETE] + states[TrialState.PRUNED]
        if finished >= target or (timeout is not None and time.monotonic() - start >= timeout):
            return
        if not states[TrialState.WAITING] and finished + states[TrialState.RUNNING] >= target:
            time.sleep(min(1.0, interval / 2))  # the last trials run on other workers: wait for them (or their death)
            continue
        with warnings.catch_warnings():  # Optuna warns that heartbeats are meant for optimize(); this loop beats them
            warnings.simplefilter("ignore", UserWarning)
            trial = study.ask()
        with Heartbeat(storage, trial._trial_id, interval):
            frozen = _run_one(study, storage, trial, objective, target, requeue)
        if after_trial is not None:
            after_trial(study, frozen)


def _run_one(study: optuna.Study, storage: optuna.storages.RDBStorage, trial: optuna.Trial, objective: Objective,
             target: int, requeue: Requeue) -> FrozenTrial:
    trial.set_user_attr("worker", WORKER)
    if _surplus(study, trial, target):
        trial.set_user_attr("surplus", True)
        return study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    try:
        values = objective(trial)
    except optuna.exceptions.UpdateFinishedTrialError:
        # Another worker took this one for dead (its heartbeat stalled past the grace) and
        # re-queued it: the trial is failed already, and this worker carries on.
        return storage.get_trial(trial._trial_id)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", True)
        try:
            failed = storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            failed = False  # already failed as stale by another worker, which re-queued it
        if failed:
            requeue(study, storage.get_trial(trial._trial_id))
        raise
    except BaseException:
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    # A worker whose heartbeat stalled (a frozen machine) may find its trial failed and re-run:
    # skip_if_finished keeps that worker going instead of crashing it.
    return study.tell(trial, values, skip_if_finished=True)
