"""Run a search: space + controller + evaluator + hard constraints + budget -> an Optuna study.

Results are written as the search goes (``result.json`` after every trial, the controller's
state, TensorBoard), so an interrupted search loses at most the trial in flight, and
``resume=True`` continues it: unfinished trials are re-run with the same architecture.
Several workers may share one study (``--storage``); ``nasengine.search.workers`` and
``nasengine.search.claims`` say how they keep its count exact and evaluate each
architecture once.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from nasengine.controller import suggest_arch
from nasengine.cost import human
from nasengine.export.export import export_top
from nasengine.registry import CONTROLLERS, EVALUATORS, get_space
from nasengine.search.claims import Claims, claim_key, evaluation_to_reuse
from nasengine.search.config import SearchConfig, search_limits
from nasengine.search.identity import check_run_folder
from nasengine.search.preflight import check_fix, check_training_search
from nasengine.search.pruning import EpochReporter
from nasengine.search.results import FINISHED, ResultWriter
from nasengine.search.study import open_study, shared_settings
from nasengine.search.tune import suggest_hparams
from nasengine.search.workers import pause, run_trials
from nasengine.utils.files import jsonable, save_atomic
from nasengine.utils.safe_load import load_checkpoint


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
    study, storage = open_study(cfg, sampler, resume)
    weights_dir = Path(str(shared_settings(cfg, study, storage, space).weights_dir))
    # config.yaml names a shared weights folder, where `nasengine export` finds other workers' weights.
    cfg = dataclasses.replace(cfg, weights_dir=None if weights_dir == out.resolve() / "weights" else str(weights_dir))
    state_file = out / "controller.pt"
    if resume and state_file.exists() and sampler.state() is not None:
        sampler.restore(load_checkpoint(state_file, what="controller state"))
    if resume and study.trials:  # after the controller state loaded: a refused resume prints only its error
        print(f"resuming study {cfg.study!r} from {cfg.storage_url}: {_count(study, *FINISHED)} of {cfg.trials} "
              "trials finished", file=sys.stderr)
    elif resume:  # nothing to resume yet (a first launch under torchrun --max-restarts)
        print(f"study {cfg.study!r} in {cfg.storage_url} has no trials yet: starting it", file=sys.stderr)
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
    claims = Claims(storage, study._study_id)
    requeue = storage.heartbeat_stale_trial_callback
    n_objectives = len(cfg.objectives)

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
        # The whole architecture in one write, after the rest: what a re-run of this trial evaluates.
        trial.set_user_attr("arch", jsonable(dict(arch.choices)))
        done = evaluation_to_reuse(study, claims, trial, claim_key(arch.id, jsonable(hparams) or None),
                                   wait=partial(pause, study, storage, requeue))
        if done is not None:
            return _reuse(trial, done, n_objectives)
        reporter = EpochReporter(trial, prune=cfg.pruner != "none", report=len(cfg.objectives) == 1,
                                 last_epoch=cfg.trial_epochs)
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
            save_atomic(result.model.state_dict(), weights_dir / f"{arch.id}.pt")
        values = {"acc": result.metrics["acc"], "macs": float(cost.macs), "params": float(cost.params),
                  "latency": latency_ms}
        return values["acc"] if len(cfg.objectives) == 1 else [values[o] for o in cfg.objectives]

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        state = sampler.state()
        if state is not None:
            save_atomic(state, state_file)
        writer.update(trial)

    try:
        run_trials(study, storage, objective, target=cfg.trials, requeue=requeue, timeout=cfg.timeout,
                   after_trial=after_trial)
    finally:
        writer.close()
    result = writer.write()
    export_top(out, space, result, cfg.top_k, evaluator, weights_dir=weights_dir)
    return result


def _reuse(trial: optuna.Trial, done: optuna.trial.FrozenTrial, n_objectives: int) -> float | list[float]:
    """Complete ``trial`` with the result of ``done``, which evaluated the same architecture
    (and training settings); a pruned one prunes it too."""
    for key in ("metrics", "epochs"):
        if key in done.user_attrs:
            trial.set_user_attr(key, done.user_attrs[key])
    trial.set_user_attr("seconds", 0.0)
    trial.set_user_attr("reused", done.number)
    if done.state == TrialState.PRUNED or done.values is None:
        raise optuna.TrialPruned(f"the same architecture was pruned in trial {done.number}")
    return done.values[0] if n_objectives == 1 else list(done.values)


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


def _count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))
