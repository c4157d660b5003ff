"""Registries of plug-ins, one per extension kind, filled from Python entry points.

Built-in spaces, controllers and evaluators are declared in ``pyproject.toml`` exactly as
a third-party package would declare its own; nothing is imported until it is asked for.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

if TYPE_CHECKING:  # annotations only: the registry sits below the contracts it holds
    from nasengine.agent import Agent
    from nasengine.controller import ArchSampler
    from nasengine.evaluators.base import Evaluator
    from nasengine.space import SearchSpace

T = TypeVar("T")


class PluginLoadError(ImportError):
    """An entry point is declared but its object cannot be imported."""


class Registry(Generic[T]):
    """Name -> object. Registering a name twice is an error; entry points load lazily.

    Args:
        kind: Human name of what is registered ("search space").
        group: Entry-point group scanned on first use.
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._objects: dict[str, T] = {}
        self._entry_points: dict[str, Any] | None = None

    def register(self, name: str, obj: T | None = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(o: T) -> T:
            if name in self._objects or name in self._scan():
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._objects[name] = o
            return o

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        """The object registered as ``name``, loading its entry point on first use."""
        if name in self._objects:
            return self._objects[name]
        eps = self._scan()
        if name not in eps:
            raise KeyError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or 'none'}")
        try:
            obj = eps[name].load()
        except Exception as exc:  # a broken plug-in must not look like a bug of ours
            raise PluginLoadError(f"{self.kind} {name!r} ({eps[name].value}) failed to load: {exc}") from exc
        self._objects[name] = obj
        return obj

    def options(self, name: str) -> dict[str, Any] | None:
        """The keyword options of factory ``name`` and their defaults (``None``: it takes any)."""
        factory: Callable[..., Any] = self.get(name)  # type: ignore[assignment]
        params = inspect.signature(factory).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY
                or (p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.default is not p.empty)}

    def create(self, name: str, *args: Any, **options: Any) -> Any:
        """Call the registered factory, first checking option names against its signature
        so that a typo is a ``ValueError`` listing the options, not a ``TypeError``."""
        allowed = self.options(name)
        if allowed is not None:
            unknown = sorted(set(options) - set(allowed))
            if unknown:
                raise ValueError(f"{self.kind} {name!r} has no option(s) {unknown}; its options are {list(allowed)}")
        factory: Callable[..., Any] = self.get(name)  # type: ignore[assignment]
        return factory(*args, **options)

    def names(self) -> list[str]:
        return sorted(set(self._objects) | set(self._scan()))

    def __contains__(self, name: str) -> bool:
        return name in self._objects or name in self._scan()

    def _scan(self) -> dict[str, Any]:
        if self._entry_points is None:
            found: dict[str, Any] = {}
            for ep in entry_points(group=self.group):
                if ep.name in found and found[ep.name].value != ep.value:
                    raise ValueError(f"{self.kind} {ep.name!r} is declared twice ({found[ep.name].value}, {ep.value})")
                found[ep.name] = ep
            self._entry_points = found
        return self._entry_points


SPACES: Registry[type[SearchSpace]] = Registry("search space", "nasengine.spaces")
CONTROLLERS: Registry[Callable[..., ArchSampler]] = Registry("controller", "nasengine.controllers")
EVALUATORS: Registry[Callable[..., Evaluator]] = Registry("evaluator", "nasengine.evaluators")
#: Reinforcement-learning agents for per-layer compression policies (``nasengine.agent``).
AGENTS: Registry[Callable[..., Agent]] = Registry("agent", "nasengine.agents")


def get_space(name: str, **config: Any) -> SearchSpace:
    """Instantiate the registered search space ``name`` with config keyword arguments."""
    return SPACES.get(name)(**config)


def list_spaces() -> list[str]:
    """Names of the registered search spaces."""
    return SPACES.names()


def create_controller(name: str, space: SearchSpace, **options: Any) -> ArchSampler:
    """The registered controller ``name`` for ``space`` (option names checked)."""
    controller: ArchSampler = CONTROLLERS.create(name, space, **options)
    return controller


def create_evaluator(name: str, space: SearchSpace, **options: Any) -> Evaluator:
    """The registered evaluator ``name`` for ``space`` (option names checked)."""
    evaluator: Evaluator = EVALUATORS.create(name, space, **options)
    return evaluator
