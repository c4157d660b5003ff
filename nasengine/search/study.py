"""Open a search's Optuna study: its storage, the settings its workers must share, and
the identity that refuses a resume or a worker whose settings would change what a trial scores.

Workers started together race to create the storage's tables (``connect`` retries); a
trial whose worker died is re-queued with its recorded architecture (``requeue_failed``).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import optuna

from nasengine.arch import ArchError
from nasengine.registry import get_space
from nasengine.search.claims import Claims
from nasengine.search.config import HEARTBEAT_GRACE, HEARTBEAT_INTERVAL, SearchConfig, SearchError
from nasengine.search.pruning import make_pruner
from nasengine.utils.files import jsonable
from nasengine.utils.run_folder import setting_changes

#: The study's metric name of each objective (what Optuna's dashboard and plots label).
METRIC_NAMES = {"acc": "acc", "macs": "macs", "params": "params", "latency": "latency_ms"}


def study_identity(cfg: SearchConfig) -> dict[str, Any]:
    """What workers sharing a study must agree on: everything that changes what a trial
    scores (the seed may differ: each worker proposes its own candidates)."""
    return {"space": cfg.space, "space_config": cfg.space_config, "objectives": list(cfg.objectives),
            "max_macs": cfg.max_macs, "max_params": cfg.max_params, "evaluator": cfg.evaluator,
            **({"max_latency_ms": cfg.max_latency_ms} if cfg.max_latency_ms is not None else {}),
            **{key: getattr(cfg, key) for key in ("fix", "tune", "pruner_options") if getattr(cfg, key)},
            **({"pruner": cfg.pruner} if cfg.pruner != "none" else {}),
            "strategy": cfg.strategy, "controller": cfg.controller, "controller_options": cfg.controller_options,
            "evaluator_options": cfg.evaluator_options, "dataset": cfg.dataset, "epochs": cfg.epochs,
            **({"pretrain_epochs": cfg.pretrain_epochs, "pretrain_options": cfg.pretrain_options}
               if cfg.pretrain is not None else {})}


#: Identity keys that studies started before they were recorded lack (not compared there).
LATER_KEYS = ("strategy", "controller", "controller_options", "evaluator_options", "dataset", "epochs",
              "pretrain_epochs", "pretrain_options")


def _resolved(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` with its space config completed by the space's defaults, so that one
    config spelled with and without its default values is the same study."""
    try:
        config = get_space(identity["space"], **identity["space_config"]).config.to_dict()
    except (KeyError, TypeError, ValueError):  # an unknown space or config: compare as stored
        return identity
    return {**identity, "space_config": jsonable(config)}


def connect(cfg: SearchConfig, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Open the storage; workers started together race to create its tables, so retry."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return _rdb_storage(cfg)
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _rdb_storage(cfg: SearchConfig) -> optuna.storages.RDBStorage:
    with warnings.catch_warnings():  # heartbeats are marked experimental; they are what multi-worker recovery needs
        warnings.simplefilter("ignore")
        # The study's own settings replace these once it is open (shared_settings).
        storage = optuna.storages.RDBStorage(cfg.storage_url, heartbeat_interval=HEARTBEAT_INTERVAL,
                                             grace_period=HEARTBEAT_GRACE)
    # Creating the schema is the racy part; touching it once here makes later calls safe.
    optuna.get_all_study_summaries(storage)
    return storage


def default_weights_dir(cfg: SearchConfig) -> Path | None:
    """Where a study keeps trained weights unless told: ``OUT/weights`` with the default
    storage, ``NAME-weights/STUDY/`` beside a shared SQLite file, none for a server (its
    workers may run anywhere, so ``--weights-dir`` must name a folder they all reach)."""
    if cfg.storage is None:
        return Path(cfg.out).resolve() / "weights"
    import sqlalchemy

    url = sqlalchemy.engine.make_url(cfg.storage)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db = Path(str(url.database)).resolve()
        return db.with_name(f"{db.stem}-weights") / cfg.study
    return None


def shared_settings(cfg: SearchConfig, study: optuna.Study, storage: optuna.storages.RDBStorage,
                     space: Any) -> SearchConfig:
    """``cfg`` with what all workers of the study share, fixed by its first worker: the
    heartbeat interval and grace, and the weights folder. A worker that leaves one out takes
    the study's; one that gives another value is refused."""
    weights = cfg.weights_dir or default_weights_dir(cfg)
    given = {"heartbeat_interval": cfg.heartbeat_interval, "heartbeat_grace": cfg.heartbeat_grace,
             "weights_dir": None if weights is None else str(Path(weights).resolve())}
    stored = study.user_attrs.get("workers")
    if stored is not None and cfg.storage is None:  # the run folder's own study: its folder may have moved
        stored = {**stored, "weights_dir": given["weights_dir"]}
    if stored is None:
        if given["weights_dir"] is None:
            raise SearchError(f"--storage {cfg.storage} is a server its workers may reach from any folder or host: give "
                              "--weights-dir DIR, a folder they all reach, for the trained weights")
        stored = {"heartbeat_interval": given["heartbeat_interval"] or HEARTBEAT_INTERVAL,
                  "heartbeat_grace": given["heartbeat_grace"] or HEARTBEAT_GRACE, "weights_dir": given["weights_dir"]}
        study.set_user_attr("workers", stored)
    explicit = {**given, "weights_dir": cfg.weights_dir and given["weights_dir"]}
    differ = [k for k, v in explicit.items() if v is not None and v != stored[k]]
    if differ:
        diff = ", ".join(f"--{k.replace('_', '-')} {stored[k]} (not {explicit[k]})" for k in differ)
        raise SearchError(f"study {cfg.study!r} in {cfg.storage_url} runs with {diff}; every worker uses the study's "
                          "settings: leave the option out or give the same value")
    if stored["heartbeat_grace"] <= stored["heartbeat_interval"]:
        raise SearchError(f"--heartbeat-grace {stored['heartbeat_grace']} must exceed --heartbeat-interval "
                          f"{stored['heartbeat_interval']}")
    storage.heartbeat_interval, storage.grace_period = stored["heartbeat_interval"], stored["heartbeat_grace"]
    # A trial whose worker stopped beating is failed by another worker, which re-queues its architecture.
    requeue = partial(requeue_failed, space, Claims(storage, study._study_id))
    storage.heartbeat_stale_trial_callback = storage.failed_trial_callback = requeue
    return dataclasses.replace(cfg, **stored)


def open_study(cfg: SearchConfig, sampler: Any, resume: bool) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    storage = connect(cfg)
    exists = cfg.study in {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if exists and not resume and cfg.storage is None:
        raise SearchError(f"{cfg.out} already holds study {cfg.study!r}; pass --resume to continue it, "
                          "--force to start over, or choose another --out")
    directions = ["maximize"] + ["minimize"] * (len(cfg.objectives) - 1)
    study = optuna.create_study(storage=storage, study_name=cfg.study, sampler=sampler, directions=directions,
                                pruner=make_pruner(cfg.pruner, cfg.pruner_options, cfg.trial_epochs), load_if_exists=True)
    if study.metric_names is None:
        with warnings.catch_warnings():  # marked experimental since Optuna 3.2; the dashboard reads it
            warnings.simplefilter("ignore")
            study.set_metric_names([METRIC_NAMES[o] for o in cfg.objectives])
    identity = study_identity(cfg)
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    else:
        old = "strategy" not in stored  # recorded before the later keys were
        changes = setting_changes(_resolved(stored), _resolved(jsonable(identity)), ignore=LATER_KEYS if old else ())
        if changes:
            elsewhere = "another --study" if cfg.storage is not None else "another --out, or --force to start over"
            raise SearchError(f"study {cfg.study!r} in {cfg.storage_url} was started with other settings "
                              f"({', '.join(changes)}); resume it with the same settings or choose {elsewhere}")
    # No re-queueing here: trials of dead workers are re-run by every worker's loop, once their
    # heartbeat has expired (or at once when their process on this host is gone); live ones never.
    return study, storage


def requeue_failed(space: Any, claims: Claims, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a re-run of the failed ``trial``: its recorded architecture and training settings.

    A trial without the record had not started evaluating (it may hold some parameters,
    written one by one): nothing is lost, and a new trial takes its place. Exactly one re-run
    is queued however many workers fail the trial at once (SQLite has no row locks, so two
    may both see it running and both fail it): the first to claim ``retry:NUMBER`` queues it.
    """
    record = trial.user_attrs.get("arch")
    if record is None:
        return
    try:
        arch = space.arch(record)
    except ArchError:
        return  # a trial of another space config in a shared storage: not this study's to re-run
    if not claims.first(f"retry:{trial.number}", trial.number):
        return
    params = {**arch.choices, **(trial.user_attrs.get("hparams") or {})}
    study.enqueue_trial(params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
