"""The resolved configuration of one search: defaults < YAML file < command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import yaml

from nasengine.constraints import Constraints
from nasengine.cost import parse_amount
from nasengine.registry import Registry
from nasengine.utils import yaml_values
from nasengine.utils.devices import resolve_device
from nasengine.utils.files import write_text_atomic
from nasengine.utils.validation import finite_number, output_path

if TYPE_CHECKING:
    from nasengine.space import SearchSpace

OBJECTIVES = ("acc", "macs", "params", "latency")

class SearchError(ValueError):
    """A search cannot start as configured."""


#: A strategy's pretraining step: ``step(cfg, space, out, *, progress)`` trains (or reuses)
#: what its evaluator needs in the run folder ``out`` and returns evaluator options.
PretrainStep = Callable[..., Mapping[str, Any]]


@dataclass(frozen=True)
class Strategy:
    """A search pipeline in one word: the controller, the evaluator and an optional
    pretraining step (called before the study; see ``run_search``)."""

    controller: str
    evaluator: str = "train"
    pretrain: PretrainStep | None = None

    @property
    def one_shot(self) -> bool:
        """Whether the evaluator is part of the method (then it cannot be swapped)."""
        return self.pretrain is not None or self.evaluator != "train"


#: Strategies by name, from the entry-point group ``nasengine.strategies``: the plain ones
#: (a controller with the ``train`` evaluator) in ``builtin_strategies``, the one-shot
#: methods (spos, enas, metapruning) in the ``supernet`` plug-in.
STRATEGIES: Registry[Strategy] = Registry("strategy", "nasengine.strategies")


def search_limits(cfg: SearchConfig, space: SearchSpace) -> Constraints:
    """The hard limits of a search (MACs, params and, with a latency table, latency)."""
    table = getattr(cfg, "latency_table", None)
    if table is None:
        latency = None
    else:
        from nasengine.latency.table import LatencyPredictor  # reads the table file; torch-backed

        latency = LatencyPredictor(space, table)
    return Constraints(cfg.max_macs, cfg.max_params, getattr(cfg, "max_latency_ms", None), latency)


#: The value types of each search option (YAML files are checked against them), and
#: whether it may be null.
_KINDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "space": ((str,), False), "space_config": ((dict,), False), "strategy": ((str,), True),
    "controller": ((str,), True), "controller_options": ((dict,), False), "evaluator": ((str,), True),
    "evaluator_options": ((dict,), False), "dataset": ((str,), False), "data_root": ((str,), True),
    "epochs": ((int,), False), "pretrain_epochs": ((int,), False), "pretrain_options": ((dict,), False),
    "max_macs": ((int, float), True), "max_params": ((int, float), True), "max_latency_ms": ((int, float), True),
    "latency_table": ((str,), True), "trials": ((int,), False), "seed": ((int,), False),
    "objectives": ((tuple, list), False), "top_k": ((int,), False), "out": ((str,), False),
    "storage": ((str,), True), "study": ((str,), False), "timeout": ((int, float), True), "device": ((str,), False),
    "fix": ((dict,), False), "tune": ((dict,), False), "pruner": ((str,), False), "pruner_options": ((dict,), False),
    "threads": ((int,), True),
    "heartbeat_interval": ((int,), True), "heartbeat_grace": ((int,), True), "weights_dir": ((str,), True),
}

#: A study's heartbeat settings when its first worker gives none (seconds).
HEARTBEAT_INTERVAL, HEARTBEAT_GRACE = 10, 60


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; saved as ``config.yaml`` next to the results."""

    space: str = "shufflenet"
    space_config: dict[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    controller: str | None = None  # None: the strategy's, else "evolution"
    controller_options: dict[str, Any] = field(default_factory=dict)
    evaluator: str | None = None  # None: a one-shot strategy's, else "train"
    evaluator_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_root: str | None = None
    epochs: int = 3
    pretrain_epochs: int = 10
    pretrain_options: dict[str, Any] = field(default_factory=dict)
    max_macs: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    latency_table: str | None = None
    trials: int = 20
    seed: int = 0
    objectives: tuple[str, ...] = ("acc",)
    top_k: int = 3
    out: str = "runs/search"
    storage: str | None = None
    study: str = "search"
    timeout: float | None = None
    device: str = "cpu"
    fix: dict[str, Any] = field(default_factory=dict)  # decision -> option, the same in every trial
    tune: dict[str, str] = field(default_factory=dict)  # training setting -> spec (see nasengine.search.tune)
    pruner: str = "none"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None  # torch threads; None: this host's cores shared among the study's workers here
    # Shared by the study's workers; None: the study's, else the defaults (see docs/scale-out.md).
    heartbeat_interval: int | None = None  # seconds between a running trial's heartbeats
    heartbeat_grace: int | None = None  # seconds without a heartbeat before its trial is re-run elsewhere
    weights_dir: str | None = None  # the study's store of trained weights, one for all workers

    def __post_init__(self) -> None:
        self._check_types()
        objectives = tuple(self.objectives)
        object.__setattr__(self, "objectives", objectives)
        bad = [o for o in objectives if o not in OBJECTIVES]
        if bad or not objectives or objectives[0] != "acc" or len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives must start with acc and may add macs, params and/or latency (e.g. acc,macs); "
                             f"got {','.join(objectives)}")
        if self.latency_table is None and (self.max_latency_ms is not None or "latency" in objectives):
            raise ValueError("a latency limit or objective needs --latency-table FILE (see `nasengine latency build`)")
        for name in ("max_latency_ms", "timeout"):
            if getattr(self, name) is not None:
                finite_number(name, getattr(self, name), low=0, low_open=True, high=None)
        if not self.study.strip():
            raise ValueError("study must be a non-empty name")
        if self.storage is not None:
            check_storage_url(self.storage)
        output_path("out", self.out, folder=True)
        resolve_device(self.device)
        self._fill_from_strategy()
        for name in ("trials", "top_k", "epochs", "pretrain_epochs", "threads", "heartbeat_interval",
                     "heartbeat_grace"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        interval = HEARTBEAT_INTERVAL if self.heartbeat_interval is None else self.heartbeat_interval
        if self.heartbeat_grace is not None and self.heartbeat_grace <= interval:
            raise ValueError(f"heartbeat_grace must exceed heartbeat_interval ({interval} s), got {self.heartbeat_grace}; "
                             "a live worker's trial would look dead between two heartbeats")
        self._check_training_search()

    def _check_training_search(self) -> None:
        """``tune`` specs and the pruner, checked before anything runs (the evaluator's own
        list of tunable settings is checked by ``run_search``)."""
        from nasengine.search.pruning import make_pruner
        from nasengine.search.tune import parse_tune

        parse_tune(self.tune)
        make_pruner(self.pruner, self.pruner_options, self.epochs)
        if self.pruner != "none" and len(self.objectives) > 1:
            raise ValueError(f"--pruner {self.pruner} needs a single objective (acc); Optuna prunes no "
                             f"multi-objective study, and objectives are {','.join(self.objectives)}")

    def _check_types(self) -> None:
        """One clear error per bad value (a YAML file may hold anything); limits also take the
        command line's amounts (``max_macs: 100K``)."""
        for name in ("max_macs", "max_params"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise ValueError(f"{name} must be an amount such as 300M or 3.5e6, got {value!r}")
                object.__setattr__(self, name, parse_amount(value))
        for f in dataclasses.fields(self):
            allowed, nullable = _KINDS[f.name]
            value = getattr(self, f.name)
            if value is None and nullable:
                continue
            if isinstance(value, bool) or not isinstance(value, allowed):
                wanted = " or ".join(k.__name__ for k in allowed) + (" or null" if nullable else "")
                raise ValueError(f"search option {f.name} must be {wanted}, got {value!r}")

    def _fill_from_strategy(self) -> None:
        """The controller (and a one-shot strategy's evaluator) follow ``strategy``; an
        explicit different choice is an error, an absent one takes the default."""
        spec = None
        if self.strategy is not None:
            if self.strategy not in STRATEGIES:
                raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES.names())}")
            spec = STRATEGIES.get(self.strategy)
        for key, default in (("controller", "evolution"), ("evaluator", "train")):
            given = getattr(self, key)
            wanted = getattr(spec, key) if spec is not None and (key == "controller" or spec.one_shot) else None
            if given is not None and wanted is not None and given != wanted:
                raise ValueError(f"--strategy {self.strategy} uses {key} {wanted!r} and --{key} {given} disagree; "
                                 "give one")
            object.__setattr__(self, key, given or wanted or default)

    @property
    def pretrain(self) -> PretrainStep | None:
        """The strategy's pretraining step, if it has one."""
        return None if self.strategy is None else STRATEGIES.get(self.strategy).pretrain

    @property
    def trial_epochs(self) -> int:
        """Epochs one trial trains: ``--evaluator-set epochs=N`` where given, else ``epochs``
        (what a pruner counts its resource in, and the epoch a trial is never pruned at)."""
        epochs = self.evaluator_options.get("epochs", self.epochs)
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1 else self.epochs

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{Path(self.out).resolve() / 'study.db'}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["objectives"] = list(self.objectives)
        return data

    def save(self, path: str | Path) -> None:
        """Write ``config.yaml``; ``kind: search`` tells it from other commands' run folders."""
        write_text_atomic(yaml.safe_dump({"kind": "search", **self.to_dict()}, sort_keys=False), path)

    @classmethod
    def resolve(cls, file: str | Path | None = None, **overrides: Any) -> SearchConfig:
        """Defaults, then the YAML ``file``, then ``overrides`` whose value is not None."""
        values: dict[str, Any] = {}
        if file is not None:
            path = Path(file)
            if not path.is_file():
                raise ValueError(f"--config {str(path)!r} does not exist")
            loaded = yaml_values.load_file(path) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"--config {str(path)!r} must hold a mapping of option: value")
            kind = loaded.pop("kind", "search")  # a search run's config.yaml is a search config
            if kind != "search":
                raise ValueError(f"--config {str(path)!r} holds the settings of `nasengine {kind}`, not of a search")
            values.update(loaded)
            _yield_to_command_line(values, overrides)
        for key, value in overrides.items():
            if value is None:
                continue
            if key in ("space_config", "controller_options", "evaluator_options", "pretrain_options", "fix", "tune",
                       "pruner_options"):
                values[key] = {**values.get(key, {}), **value}
            else:
                values[key] = value
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown search option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


def check_storage_url(url: str) -> None:
    """A ``ValueError`` unless ``url`` is a database URL SQLAlchemy has a dialect for, and an
    SQLite file's folder exists (SQLite creates the file, not its folder)."""
    import sqlalchemy.engine
    import sqlalchemy.exc

    try:
        parsed = sqlalchemy.engine.make_url(url)
        parsed.get_dialect()
    except sqlalchemy.exc.ArgumentError as exc:  # unknown scheme or not a URL
        raise ValueError(f"--storage {url!r} is not a database URL this installation can open ({_first_line(exc)}); "
                         "e.g. sqlite:///study.db or postgresql://user@host/db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise ValueError(f"--storage {url!r}: folder {str(folder)!r} does not exist")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _yield_to_command_line(values: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Drop the file's choices that a command-line ``strategy`` or ``controller`` replaces.

    ``--print-config`` writes the controller and evaluator a strategy implies; without this,
    ``--config FILE --strategy nsga2`` would contradict the file's ``controller: evolution``
    instead of overriding it. A file's evaluator is kept unless the old or the new strategy
    is one-shot (its evaluator belongs to the method), so table replay survives a new controller.
    """
    strategy = overrides.get("strategy")
    if strategy is not None and overrides.get("controller") is None:
        values.pop("controller", None)
        if overrides.get("evaluator") is None and any(_one_shot(s) for s in (strategy, values.get("strategy"))):
            values.pop("evaluator", None)
            values.pop("evaluator_options", None)
    if overrides.get("controller") is not None and strategy is None:
        values.pop("strategy", None)


def _one_shot(strategy: Any) -> bool:
    return isinstance(strategy, str) and strategy in STRATEGIES and STRATEGIES.get(strategy).one_shot
