"""What a search writes while it runs: ``result.json``, TensorBoard scalars, a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nasengine.cost import human
from nasengine.pareto import pareto_front
from nasengine.records import FRONTS, SearchResult, TrialRecord
from nasengine.search.config import SearchConfig
from nasengine.space import SearchSpace
from nasengine.utils.files import jsonable
from nasengine.utils.progress import log_line, log_lines

#: The trial states that count towards ``--trials``: evaluated, to the end or stopped early.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def trial_record(t: FrozenTrial) -> TrialRecord:
    hparams = t.user_attrs.get("hparams")
    return TrialRecord(
        number=t.number,
        state=t.state.name,
        arch_id=t.user_attrs.get("arch_id"),
        choices=jsonable({k: v for k, v in t.params.items() if k not in (hparams or {})}),
        cost=t.user_attrs.get("cost"),
        metrics=t.user_attrs.get("metrics"),
        values=None if t.values is None else tuple(t.values),
        seconds=t.user_attrs.get("seconds"),
        start=t.datetime_start.isoformat() if t.datetime_start else None,
        hparams=hparams,
        epochs=t.user_attrs.get("epochs"),
        reused=t.user_attrs.get("reused"),
    )


def _evaluated(t: FrozenTrial) -> bool:
    """Finished, or failed after its evaluation began: not a trial dropped over the target,
    nor one whose worker died before it had an architecture (these carry nothing, and every
    worker then writes the same record)."""
    if t.state in FINISHED:
        return True
    return t.state == TrialState.FAIL and "arch_id" in t.user_attrs and not t.user_attrs.get("surplus")


def summarize(cfg: SearchConfig, space: SearchSpace, study: optuna.Study) -> SearchResult:
    """The result record: every trial, the best one, the accuracy-vs-cost Pareto fronts."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    rows = [trial_record(t) for t in trials if _evaluated(t)]
    done = [r for r in rows if r.state == TrialState.COMPLETE.name]
    best = max(done, key=lambda r: (r.acc, -r.number), default=None)
    fronts = {}
    keys = ("macs", "params", "latency") if cfg.latency_table else ("macs", "params")
    for key in keys:
        cost_key = "latency_ms" if key == "latency" else key
        measured = [r for r in done if cost_key in r.cost]
        points = [(r.acc, r.cost[cost_key]) for r in measured]
        front = sorted((measured[i] for i in pareto_front(points, (True, False))), key=lambda r: r.cost[cost_key])
        fronts[FRONTS[key]] = tuple(front)
    return SearchResult(
        space=cfg.space,
        space_config=jsonable(space.config.to_dict()),
        strategy=cfg.strategy,
        controller=cfg.controller,
        evaluator=cfg.evaluator,
        objectives=tuple(cfg.objectives),
        constraints={"max_macs": cfg.max_macs, "max_params": cfg.max_params,
                     **({"max_latency_ms": cfg.max_latency_ms} if cfg.latency_table else {})},
        completed=len(done),
        best=best,
        pareto_front=fronts,
        trials=tuple(rows),
        pretrain_seconds=study.user_attrs.get("pretrain_seconds"),
        pruned=None if cfg.pruner == "none" else sum(r.state == TrialState.PRUNED.name for r in rows),
    )


class ResultWriter:
    """Updates ``result.json``, TensorBoard and the progress bar after each trial."""

    def __init__(self, cfg: SearchConfig, space: SearchSpace, study: optuna.Study, *, progress: bool = True) -> None:
        self.cfg, self.space, self.study = cfg, space, study
        self.out = Path(cfg.out)
        self.best = max((t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
                        default=None)
        self._tb = None
        self._bar = None
        # Not a terminal (a log file, a job scheduler): one line per trial instead of a bar.
        self._log_lines = log_lines(progress)
        if progress and not self._log_lines:
            from tqdm.auto import tqdm

            done = len(study.get_trials(deepcopy=False, states=FINISHED))
            self._bar = tqdm(total=cfg.trials, initial=min(done, cfg.trials), desc="search", dynamic_ncols=True)

    def update(self, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            acc = trial.values[0]
            self.best = acc if self.best is None else max(self.best, acc)
            tb = self._writer()
            tb.add_scalar("trial/acc", acc, trial.number)
            tb.add_scalar("trial/macs", trial.user_attrs["cost"]["macs"], trial.number)
            if "latency_ms" in trial.user_attrs["cost"]:
                tb.add_scalar("trial/latency_ms", trial.user_attrs["cost"]["latency_ms"], trial.number)
            tb.add_scalar("search/best_acc", self.best, trial.number)
            tb.flush()
            if self._bar is not None:
                self._bar.update(1)
                self._bar.set_postfix(best=f"{self.best:.4f}", last=f"{acc:.4f}")
            if self._log_lines:
                log_line(self._log_line(trial, acc))
        elif trial.state == TrialState.PRUNED:
            if self._bar is not None:
                self._bar.update(1)
            if self._log_lines:
                log_line(self._pruned_line(trial))
        self.write()

    def _pruned_line(self, trial: FrozenTrial) -> str:
        done = len(self.study.get_trials(deepcopy=False, states=FINISHED))
        acc = (trial.user_attrs.get("metrics") or {}).get("acc")
        best = "-" if self.best is None else f"{self.best:.4f}"
        return (f"trial {trial.number} ({done}/{self.cfg.trials})  arch {trial.user_attrs.get('arch_id')}  pruned at "
                f"epoch {trial.user_attrs.get('epochs', '?')}  acc {'-' if acc is None else f'{acc:.4f}'}  "
                f"{trial.user_attrs.get('seconds', 0.0):.1f}s  best {best}")

    def _log_line(self, trial: FrozenTrial, acc: float) -> str:
        done = len(self.study.get_trials(deepcopy=False, states=FINISHED))
        cost = trial.user_attrs["cost"]
        latency = f"  latency {cost['latency_ms']:.3f} ms" if "latency_ms" in cost else ""
        return (f"trial {trial.number} ({done}/{self.cfg.trials})  arch {trial.user_attrs['arch_id']}  acc {acc:.4f}  "
                f"MACs {human(cost['macs'])}{latency}  {trial.user_attrs.get('seconds', 0.0):.1f}s  best {self.best:.4f}")

    def write(self) -> dict[str, Any]:
        """Rewrite ``result.json``; returns it as ``run_search`` does, a plain dict."""
        result = summarize(self.cfg, self.space, self.study)
        result.save(self.out / "result.json")
        return result.to_dict()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()

    def _writer(self):
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out / "tb"))
        return self._tb
