"""Run a search: space + controller + evaluator + hard constraints + budget -> an Optuna study.

Results are written as the search goes (``result.json`` after every trial, the controller's
state, TensorBoard), so an interrupted search loses at most the trial in flight, and
``resume=True`` continues it: unfinished trials are re-run with the same architecture.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from nasengine.controller import suggest_arch
from nasengine.cost import human
from nasengine.export.export import export_top
from nasengine.registry import CONTROLLERS, EVALUATORS, get_space
from nasengine.search.config import SearchConfig, SearchError, search_limits
from nasengine.search.identity import check_run_folder
from nasengine.search.preflight import check_fix, check_training_search
from nasengine.search.pruning import EpochReporter, make_pruner
from nasengine.search.results import FINISHED, ResultWriter
from nasengine.search.tune import suggest_hparams
from nasengine.utils.files import jsonable, save_atomic
from nasengine.utils.run_folder import setting_changes
from nasengine.utils.safe_load import load_checkpoint

#: The study's metric name of each objective (what Optuna's dashboard and plots label).
METRIC_NAMES = {"acc": "acc", "macs": "macs", "params": "params", "latency": "latency_ms"}


def run_search(cfg: SearchConfig, *, resume: bool = False, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Run (or resume, or join) the search ``cfg`` describes; returns the result dict.

    A resume under options that change results, or a folder another command made, is
    refused (``check_run_folder``) unless ``force`` starts over in an emptied ``cfg.out``.

    A strategy with a pretraining step (spos, metapruning) runs it first; it resumes and
    returns at once when done. Under ``torchrun`` every rank pretrains together and only
    rank 0 runs the study (the others return an empty dict).
    """
    out = Path(cfg.out)
    space = get_space(cfg.space, **cfg.space_config)
    limits = search_limits(cfg, space)
    limits.check_satisfiable(space)
    if int(os.environ.get("RANK", "0")) > 0:
        if not force:  # rank 0 alone starts over
            check_run_folder(cfg, resume=resume)
        run_pretrain(cfg, space, out, progress=False)
        return {}
    sampler = CONTROLLERS.create(cfg.controller, space, seed=cfg.seed, **cfg.controller_options)
    sampler.set_constraint(lambda arch: limits.feasible(space, arch))
    check_fix(cfg, sampler)
    specs = check_training_search(cfg, space)
    # Without pretraining, a bad evaluator option fails before a study exists.
    evaluator = make_evaluator(cfg, space) if cfg.pretrain is None else None

    check_run_folder(cfg, resume=resume, force=force)  # after the checks above: --force deletes nothing in vain
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(cfg, sampler, resume)
    state_file = out / "controller.pt"
    if resume and state_file.exists() and sampler.state() is not None:
        sampler.restore(load_checkpoint(state_file, what="controller state"))
    if resume:  # after the controller state loaded: a refused resume prints only its error
        print(f"resuming study {cfg.study!r} from {cfg.storage_url}: {_count(study, *FINISHED)} of {cfg.trials} "
              "trials finished", file=sys.stderr)
    cfg.save(out / "config.yaml")
    if progress:
        limit = ", ".join(f"{k} {human(v)}" for k, v in (("MACs <=", cfg.max_macs), ("params <=", cfg.max_params)) if v)
        if cfg.max_latency_ms:
            limit += f"{', ' if limit else ''}latency <= {cfg.max_latency_ms:g} ms"
        how = f"{cfg.strategy} ({cfg.controller} / {cfg.evaluator})" if cfg.strategy else f"{cfg.controller} / {cfg.evaluator}"
        print(f"search {cfg.space} with {how}: {cfg.trials} trials"
              f"{' under ' + limit if limit else ''} -> {out}", file=sys.stderr)
    if evaluator is None:
        evaluator = make_evaluator(cfg, space, _timed_pretrain(cfg, space, out, study, progress=progress))
    writer = ResultWriter(cfg, space, study, progress=progress)
    weights_dir = out / "weights"

    def objective(trial: optuna.Trial) -> float | list[float]:
        arch = suggest_arch(trial, space)
        hparams = suggest_hparams(trial, specs)
        cost = space.cost(arch)
        latency_ms = limits.predicted_latency(arch)
        if not limits.allows(cost, latency_ms):  # controllers guarantee this; a violation is a bug
            raise RuntimeError(f"controller {cfg.controller!r} proposed an infeasible architecture {arch.id}")
        trial.set_user_attr("arch_id", arch.id)
        trial.set_user_attr("cost", cost.to_dict() if latency_ms is None else {**cost.to_dict(), "latency_ms": latency_ms})
        if hparams:
            trial.set_user_attr("hparams", jsonable(hparams))
        reporter = EpochReporter(trial, prune=cfg.pruner != "none", report=len(cfg.objectives) == 1,
                                 last_epoch=cfg.epochs)
        t0 = time.perf_counter()
        try:
            result = (evaluator.evaluate_reporting(arch, reporter, hparams=hparams) if hparams
                      else evaluator.evaluate_reporting(arch, reporter))
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        except optuna.TrialPruned:
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            trial.set_user_attr("epochs", reporter.epochs)
            trial.set_user_attr("metrics", {"acc": reporter.last})
            raise
        trial.set_user_attr("metrics", result.metrics)
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        if reporter.epochs:
            trial.set_user_attr("epochs", reporter.epochs)
        if result.model is not None:
            weights_dir.mkdir(exist_ok=True)
            save_atomic(result.model.state_dict(), weights_dir / f"{arch.id}.pt")
        values = {"acc": result.metrics["acc"], "macs": float(cost.macs), "params": float(cost.params),
                  "latency": latency_ms}
        return values["acc"] if len(cfg.objectives) == 1 else [values[o] for o in cfg.objectives]

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        state = sampler.state()
        if state is not None:
            save_atomic(state, state_file)
        writer.update(trial)

    remaining = cfg.trials - _count(study, *FINISHED)
    try:
        if remaining > 0:
            study.optimize(objective, n_trials=remaining, timeout=cfg.timeout, callbacks=[
                optuna.study.MaxTrialsCallback(cfg.trials, states=FINISHED), after_trial])
    finally:
        writer.close()
    result = writer.write()
    export_top(out, space, result, cfg.top_k, evaluator)
    return result


def run_pretrain(cfg: SearchConfig, space: Any, out: Path, *, progress: bool) -> dict[str, Any]:
    """Run the strategy's pretraining step; its result becomes evaluator options."""
    if cfg.pretrain is None:
        return {}
    step = cfg.pretrain
    out.mkdir(parents=True, exist_ok=True)
    return dict(step(cfg, space, out, progress=progress))


def _timed_pretrain(cfg: SearchConfig, space: Any, out: Path, study: optuna.Study, *,
                    progress: bool) -> dict[str, Any]:
    """``run_pretrain``, its wall time added to the study's ``pretrain_seconds``.

    The time is kept in the study, not in memory, so that a pretraining interrupted and
    resumed counts both parts, and ``result.json`` can report search = pretraining + trials.
    """
    t0 = time.perf_counter()
    try:
        return run_pretrain(cfg, space, out, progress=progress)
    finally:
        spent = study.user_attrs.get("pretrain_seconds", 0.0) + time.perf_counter() - t0
        study.set_user_attr("pretrain_seconds", spent)


def make_evaluator(cfg: SearchConfig, space: Any, pretrained: dict[str, Any] | None = None) -> Any:
    """The evaluator, given the search's data, budget, seed and run folder where it takes
    them, the pretraining step's options, then ``--evaluator-set`` options."""
    common = {"dataset": cfg.dataset, "data_root": cfg.data_root, "epochs": cfg.epochs, "seed": cfg.seed,
              "run_dir": str(cfg.out), "device": cfg.device}
    params = inspect.signature(EVALUATORS.get(cfg.evaluator)).parameters
    options = {k: v for k, v in common.items() if k in params and params[k].kind != inspect.Parameter.VAR_KEYWORD}
    options.update(pretrained or {})
    options.update(cfg.evaluator_options)
    return EVALUATORS.create(cfg.evaluator, space, **options)


def _identity(cfg: SearchConfig) -> dict[str, Any]:
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
_LATER_KEYS = ("strategy", "controller", "controller_options", "evaluator_options", "dataset", "epochs",
               "pretrain_epochs", "pretrain_options")


def _resolved(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` with its space config completed by the space's defaults, so that one
    config spelled with and without its default values is the same study."""
    try:
        config = get_space(identity["space"], **identity["space_config"]).config.to_dict()
    except (KeyError, TypeError, ValueError):  # an unknown space or config: compare as stored
        return identity
    return {**identity, "space_config": jsonable(config)}


def _connect(cfg: SearchConfig, attempts: int = 5) -> optuna.storages.RDBStorage:
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
        # A worker that dies mid-trial stops beating; another worker fails the trial and re-runs its arch.
        storage = optuna.storages.RDBStorage(
            cfg.storage_url, heartbeat_interval=30, grace_period=120,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2))
    # Creating the schema is the racy part; touching it once here makes later calls safe.
    optuna.get_all_study_summaries(storage)
    return storage


def _open_study(cfg: SearchConfig, sampler: Any, resume: bool) -> optuna.Study:
    storage = _connect(cfg)
    exists = cfg.study in {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if exists and not resume and cfg.storage is None:
        raise SearchError(f"{cfg.out} already holds study {cfg.study!r}; pass --resume to continue it, "
                          "--force to start over, or choose another --out")
    directions = ["maximize"] + ["minimize"] * (len(cfg.objectives) - 1)
    study = optuna.create_study(storage=storage, study_name=cfg.study, sampler=sampler, directions=directions,
                                pruner=make_pruner(cfg.pruner, cfg.pruner_options, cfg.epochs), load_if_exists=True)
    if study.metric_names is None:
        with warnings.catch_warnings():  # marked experimental since Optuna 3.2; the dashboard reads it
            warnings.simplefilter("ignore")
            study.set_metric_names([METRIC_NAMES[o] for o in cfg.objectives])
    identity = _identity(cfg)
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    else:
        old = "strategy" not in stored  # recorded before the later keys were
        changes = setting_changes(_resolved(stored), _resolved(jsonable(identity)), ignore=_LATER_KEYS if old else ())
        if changes:
            elsewhere = "another --study" if cfg.storage is not None else "another --out, or --force to start over"
            raise SearchError(f"study {cfg.study!r} in {cfg.storage_url} was started with other settings "
                              f"({', '.join(changes)}); resume it with the same settings or choose {elsewhere}")
    if resume:
        _requeue_unfinished(study)
    return study


def _requeue_unfinished(study: optuna.Study) -> None:
    """Trials a killed run left RUNNING, or an interrupt failed, run again (same arch)."""
    storage = study._storage
    requeued = set(study.user_attrs.get("requeued", []))
    for t in study.get_trials(deepcopy=False):
        orphan = t.state == TrialState.RUNNING
        interrupted = t.state == TrialState.FAIL and t.user_attrs.get("interrupted")
        if orphan:
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if (orphan or interrupted) and t.params and t.number not in requeued:
            study.enqueue_trial(t.params, skip_if_exists=False)
            requeued.add(t.number)
    study.set_user_attr("requeued", sorted(requeued))


def _count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))
