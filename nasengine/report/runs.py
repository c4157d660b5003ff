"""Search run folders as a report reads them: the ``result.json`` record, ``config.yaml``,
the export records under ``exports/``, and the RL controller's log in ``controller.pt``;
and what the report derives from them (Pareto series, progress curves, top architectures,
what scored the trials, search time, hard limits, the equivalent ``nasengine search``
command)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasengine.cost import human
from nasengine.pareto import pareto_front
from nasengine.records import ExportRecord, SearchResult, TrialRecord
from nasengine.search.config import SearchConfig
from nasengine.utils import yaml_values
from nasengine.utils.safe_load import load_checkpoint


@dataclass
class Run:
    """One search run folder, read."""

    path: Path
    label: str
    result: SearchResult
    config: dict[str, Any]
    exports: list[ExportRecord]
    rl_log: list[dict[str, Any]]

    @property
    def completed(self) -> list[TrialRecord]:
        return self.result.completed_trials


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read a run folder; ``ValueError`` when it holds no readable ``result.json``."""
    path = Path(path)
    result_file = path / "result.json"
    if not result_file.is_file():
        raise ValueError(f"run {str(path)!r} has no result.json (is it a `nasengine search --out` folder?)")
    result = SearchResult.load(result_file)
    config_file = path / "config.yaml"
    config = (yaml_values.load_file(config_file) or {}) if config_file.is_file() else {}
    if not isinstance(config, dict):
        raise ValueError(f"{str(config_file)!r} must hold a mapping of search option: value, got {type(config).__name__}")
    exports = [ExportRecord.load(f) for f in sorted(path.glob("exports/*/arch.json"))]
    return Run(path, label or path.name, result, config, exports, read_rl_log(path / "controller.pt"))


def read_rl_log(path: Path) -> list[dict[str, Any]]:
    """Learned-trial entries (``trial``, ``reward``, ``baseline``) of a saved controller
    state; empty when there is none or the controller keeps no such log."""
    if not path.is_file():
        return []
    state = load_checkpoint(path, what="controller state")
    log = state.get("log") if isinstance(state, dict) else None
    return [e for e in log or [] if isinstance(e, dict) and "reward" in e and "baseline" in e]


def pareto_series(run: Run, key: str) -> dict[str, list[tuple[float, float]]]:
    """Every completed trial as ``(cost[key], acc)`` and the accuracy-vs-cost Pareto
    front (``nasengine.pareto``), sorted by cost; trials without ``key`` are left out."""
    rows = [r for r in run.completed if (r.cost or {}).get(key) is not None]
    points = [(float(r.cost[key]), r.acc) for r in rows]
    front = [points[i] for i in pareto_front([(acc, cost) for cost, acc in points], (True, False))]
    return {"points": points, "front": sorted(set(front))}


def progress_curve(run: Run) -> dict[str, list[tuple[int, float]]]:
    """Each completed trial's accuracy and the best so far, in trial order."""
    trials = sorted((r.number, r.acc) for r in run.completed)
    best, running = [], float("-inf")
    for number, acc in trials:
        running = max(running, acc)
        best.append((number, running))
    return {"trials": trials, "best": best}


def top_archs(run: Run, k: int) -> list[ExportRecord]:
    """The run's ``k`` best architectures: its exports by validation accuracy, else its best trial."""
    docs = sorted(run.exports, key=lambda d: -(d.val_acc or 0.0))
    best = run.result.best
    if not docs and best is not None:
        docs = [ExportRecord(space=run.result.space, config=run.result.space_config, choices=best.choices,
                             id=str(best.arch_id), cost=dict(best.cost or {}), metrics={"val_acc": best.acc},
                             trial=best.number, hparams=best.hparams)]
    return docs[:k]


#: What scores the trials of each evaluator other than ``train`` (which is labelled by its
#: epochs): one-shot runs never train a candidate, so "N-epoch proxy" would be untrue.
SCORED_BY = {
    "supernet": "inherited supernet weights, BN recalibrated",
    "pruningnet": "PruningNet-generated weights, BN recalibrated",
    "enas": "shared ENAS weights trained along each proposal, accuracy on one validation minibatch",
    "table": "tabular benchmark lookup (the table's own proxy training)",
}


def scored_by(run: Run) -> str:
    """What gave the run's trials their accuracy, in words."""
    evaluator = run.result.evaluator
    if evaluator == "train":
        epochs = run.config.get("epochs")
        return f"{epochs}-epoch proxy training" if epochs else "proxy training (epochs not recorded)"
    text = SCORED_BY.get(evaluator, f"evaluator `{evaluator}`")
    if (run.config.get("evaluator_options") or {}).get("bn_batches") == 0:  # recalibration switched off
        text = text.replace("BN recalibrated", "BN statistics not recalibrated")
    return text


@dataclass(frozen=True)
class SearchTime:
    """Where a run's search time went: the pretraining step (``None``: not recorded; 0 for
    strategies without one) and the trials."""

    pretrain: float | None
    trials: float

    @property
    def total(self) -> float | None:
        return None if self.pretrain is None else self.pretrain + self.trials


def search_time(run: Run) -> SearchTime:
    """The run's pretraining and trial time as ``result.json`` records them."""
    res = run.result
    pretrain = res.pretrain_seconds
    if pretrain is None and not _pretrains(res.strategy):
        pretrain = 0.0
    return SearchTime(pretrain, res.trial_seconds)


def _pretrains(strategy: str | None) -> bool:
    """Whether ``strategy`` has a pretraining step (then a missing time is unknown, not 0)."""
    from nasengine.search.config import STRATEGIES

    if strategy is None:
        return False
    try:
        return STRATEGIES.get(strategy).pretrain is not None
    except (KeyError, ValueError, ImportError):  # a plug-in no longer installed: assume it might
        return True


@dataclass(frozen=True)
class Limit:
    """A hard limit of a search, as a figure draws it: the cost ``key`` it bounds."""

    key: str
    value: float
    label: str


#: The ``result.json`` constraint of each cost key, and how its limit is named.
_LIMITS = {"macs": ("max_macs", lambda v: f"MACs limit {human(v)}"),
           "params": ("max_params", lambda v: f"params limit {human(v)}"),
           "latency_ms": ("max_latency_ms", lambda v: f"latency limit {v:g} ms")}


def search_limits(runs: list[Run]) -> list[Limit]:
    """Every distinct hard limit of the runs, MACs first, then params, then latency."""
    found = []
    for key, (name, label) in _LIMITS.items():
        values = sorted({float(r.result.constraints[name]) for r in runs if r.result.constraints.get(name)})
        found += [Limit(key, v, label(v)) for v in values]
    return found


def search_command(config: dict[str, Any]) -> str:
    """A ``nasengine search`` command line equivalent to a run's ``config.yaml``.

    Every config key that ``nasengine search`` has an option for is written out (``*_options``
    and ``space_config`` as repeated ``--*-set`` / ``--set``), so new search options carry over.
    """
    import argparse

    from nasengine.cli import search as cli_search  # its parser is the reference for option names

    sub = argparse.ArgumentParser(prog="nasengine").add_subparsers()
    cli_search.add_parser(sub)
    flags = {a.dest: a.option_strings[-1] for a in sub.choices["search"]._actions if a.option_strings}
    defaults = SearchConfig().to_dict()
    options = dict(config.get("evaluator_options") or {})
    parts = ["nasengine", "search"]
    for key, value in config.items():
        derived = key == "controller" and config.get("strategy")  # the strategy names it
        if key == "evaluator_options" or value is None or value == {} or derived:
            continue
        if key == "evaluator":
            if value != "train":
                path = options.pop("path", None) if value == "table" else None
                parts += ["--evaluator", f"{value}:{path}" if path else str(value)]
            continue
        if isinstance(value, dict):
            flag = flags.get("set" if key == "space_config" else key.replace("_options", "_set"))
            if flag is None:
                raise ValueError(f"config key {key!r} has no `nasengine search` option")
            parts += [item for k, v in value.items() for item in (flag, f"{k}={_flow(v)}")]
            continue
        if key not in flags or (value == defaults.get(key) and key not in _ALWAYS):
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        parts += [flags[key], str(value)]
    parts += [item for k, v in options.items() for item in (flags.get("evaluator_set", "--evaluator-set"),
                                                             f"{k}={_flow(v)}")]
    return shlex.join(parts)


#: Search options written even at their default value: they say what the run was.
_ALWAYS = ("space", "strategy", "controller", "dataset", "epochs", "trials", "seed", "out")


def _flow(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
