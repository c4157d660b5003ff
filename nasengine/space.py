"""The search-space base class and the config dataclass every space extends."""

from __future__ import annotations

import abc
import dataclasses
import functools
import itertools
import math
import random
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np
from torch import nn

from nasengine.arch import Arch, ArchError, Decision
from nasengine.cost import Cost
from nasengine.utils.validation import positive_int


@dataclass(frozen=True)
class SpaceConfig:
    """Fields every space accepts. Spaces subclass this as a frozen dataclass.

    A field added after a space's arch ids were first published belongs in
    ``LATER_FIELDS``: ``to_dict`` leaves it out while it holds its default, so the ids (and
    with them tables, weights files and studies) of archs that do not use it stay the same.
    """

    LATER_FIELDS: ClassVar[tuple[str, ...]] = ()

    input_size: int = 224
    num_classes: int = 1000
    in_channels: int = 3

    def __post_init__(self) -> None:
        for name in ("input_size", "num_classes", "in_channels"):
            positive_int(name, getattr(self, name))

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SpaceConfig:
        """Build from loosely typed values (CLI, YAML, JSON): lists become tuples, and
        unknown keys raise a ``ValueError`` naming the allowed ones."""
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(kwargs) - set(fields))
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown} for {cls.__name__}; allowed: {sorted(fields)}")
        hints = typing.get_type_hints(cls)
        coerced = {k: _coerce(k, v, hints.get(k)) for k, v in kwargs.items()}
        return cls(**coerced)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.init and not (f.name in self.LATER_FIELDS and getattr(self, f.name) == f.default)}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    if isinstance(value, list):
        value = tuple(_coerce(name, v, None) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ValueError(f"config key {name!r} must be {hint.__name__}, got {value!r}")
    if hint is int and isinstance(value, bool):
        raise ValueError(f"config key {name!r} must be int, got {value!r}")
    return value


#: Default cap of ``SearchSpace.all_archs``: enumerating more takes too long to be useful.
MAX_ENUMERATED = 200_000


class SpaceTooLarge(ValueError):
    """A space has more architectures than an enumeration allows."""


RandomLike = typing.Union[random.Random, np.random.Generator, int, None]


@dataclass(frozen=True)
class LatencyUnit:
    """A piece of a network timed on its own for latency lookup tables.

    Attributes:
        key: Names the measurement; pieces with equal keys are the same module at the same
            input shape and are measured once (e.g. ``"k5:16>64:m32:s2:112"``).
        make: Builds the module exactly as ``build()`` does (weights do not matter).
        input_shape: One input example's shape, without the batch dimension.
        fixed: In every architecture (stem, head): summed into the table's overhead.
    """

    key: str
    make: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    fixed: bool = False


@dataclass(frozen=True)
class PresetNetwork:
    """A published network of a space: the whole config it needs and its arch's name among
    ``presets()`` under that config.

    Attributes:
        config: Space config values (the rest keep their defaults).
        arch: Key of the arch in ``space.presets()`` for that config.
        source: Where the network and its figures are published.
    """

    config: Mapping[str, Any]
    arch: str
    source: str = ""


class SearchSpace(abc.ABC):
    """A set of architectures: decisions, validation, sampling, exact cost, networks.

    Subclasses set ``name`` and ``config_class`` and implement four methods:
    ``decisions``, ``cost``, ``network`` and ``build``. Everything else has a default.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[SpaceConfig]] = SpaceConfig

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every space's cost() and build() refuse an Arch made for another space or config
        # (its choices may be valid here too, and would give a wrong cost or network silently).
        super().__init_subclass__(**kwargs)
        for method in ("cost", "build"):
            impl = cls.__dict__.get(method)
            if impl is not None and not getattr(impl, "_checks_arch", False):
                setattr(cls, method, _checking_arch(impl))

    def __init__(self, config: SpaceConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = self.config_class.from_kwargs(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self._config_dict = config.to_dict()  # what check_arch compares with, on every cost() call
        self._decisions_by_name: dict[str, Decision] | None = None

    # --- the four methods a space implements -------------------------------------------
    @abc.abstractmethod
    def decisions(self) -> tuple[Decision, ...]:
        """All decisions, in the order a controller should walk them."""

    @abc.abstractmethod
    def cost(self, arch: Arch) -> Cost:
        """Exact MACs (Conv2d + Linear) and parameters of ``build(arch)``, analytically."""

    @abc.abstractmethod
    def network(self) -> nn.Module:
        """The weight-sharing network that holds every candidate of every decision."""

    @abc.abstractmethod
    def build(self, arch: Arch, *, from_supernet: nn.Module | None = None) -> nn.Module:
        """A standalone network with only the chosen candidates; optionally inherit weights."""

    # --- defaults -----------------------------------------------------------------------
    def cost_bounds(self) -> tuple[Cost, Cost]:
        """(minimum, maximum) cost over the whole space. Override when cost is monotone
        or decomposable; this default is exact only for small spaces."""
        try:
            costs = [self.cost(arch) for arch in self.all_archs()]
        except SpaceTooLarge as exc:
            raise NotImplementedError(f"{exc}; override cost_bounds()") from None
        return Cost(min(c.macs for c in costs), min(c.params for c in costs)), Cost(
            max(c.macs for c in costs), max(c.params for c in costs)
        )

    def presets(self) -> dict[str, Arch]:
        """Named published architectures of this space (may be empty)."""
        return {}

    @classmethod
    def preset_networks(cls) -> dict[str, PresetNetwork]:
        """Published networks, each with the whole config it needs (may be empty)."""
        return {}

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> tuple[SearchSpace, Arch]:
        """The space of preset network ``name`` (its config, then ``overrides``) and its arch."""
        networks = cls.preset_networks()
        if name not in networks:
            raise ValueError(f"space {cls.name!r} has no preset network {name!r}; "
                             f"preset networks: {', '.join(networks) or 'none'}")
        net = networks[name]
        space = cls(**{**net.config, **overrides})
        presets = space.presets()
        if net.arch not in presets:
            raise ValueError(f"preset {name!r}: its arch {net.arch!r} cannot be expressed with the overrides "
                             f"{overrides}; presets of that config: {', '.join(presets) or 'none'}")
        return space, presets[net.arch]

    def latency_units(self, arch: Arch | None = None) -> list[LatencyUnit]:
        """Pieces of this space's networks, timed one by one for latency lookup tables.

        Without ``arch``: every piece some architecture runs, each key once. With ``arch``:
        the pieces ``build(arch)`` runs, fixed ones included (a key repeats when its piece
        runs several times). Optional: only spaces that implement it get latency tables.
        """
        raise NotImplementedError(f"search space {self.name!r} does not implement latency_units(), "
                                  "so it has no latency tables")

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        c = self.config
        return (batch, c.in_channels, c.input_size, c.input_size)

    def size(self) -> int:
        """Number of architectures (product of the option counts)."""
        return math.prod(len(d.options) for d in self.decisions())

    def all_archs(self, limit: int = MAX_ENUMERATED) -> Iterator[Arch]:
        """Every valid architecture, decisions varying in ``itertools.product`` order.

        Combinations that ``check`` rejects are skipped. The size is checked here, before
        the first architecture is made.

        Raises:
            SpaceTooLarge: The space has more than ``limit`` combinations.
        """
        if self.size() > limit:
            raise SpaceTooLarge(f"space {self.name!r} has {self.size():,} architectures; "
                                f"at most {limit:,} can be enumerated")
        return self._enumerate()

    def _enumerate(self) -> Iterator[Arch]:
        names = self._names()
        for combo in itertools.product(*(d.options for d in self.decisions())):
            try:
                yield self.arch(dict(zip(names, combo)))
            except ArchError:  # a rule spanning decisions rejects it
                continue

    def decision(self, name: str) -> Decision:
        if self._decisions_by_name is None:
            self._decisions_by_name = {d.name: d for d in self.decisions()}
        try:
            return self._decisions_by_name[name]
        except KeyError:
            raise ArchError(f"unknown decision {name!r} in space {self.name!r}") from None

    def arch(self, choices: Mapping[str, Any]) -> Arch:
        """Validate ``choices`` and return the ``Arch``; ``ArchError`` names what is wrong."""
        if isinstance(choices, Arch):
            choices = choices.choices
        if not isinstance(choices, Mapping):
            raise ArchError(f"choices must be a mapping of decision name to option, got {type(choices).__name__}")
        names = self._names()
        unknown = [k for k in choices if k not in names]
        if unknown:
            raise ArchError(f"unknown decision(s) {unknown} in space {self.name!r}; decisions are {list(names)}")
        missing = [n for n in names if n not in choices]
        if missing:
            raise ArchError(f"missing decision(s) {missing} in space {self.name!r}")
        canonical = {}
        for n in names:
            d = self.decision(n)
            canonical[n] = d.options[d.index(choices[n])]
        self.check(canonical)
        return Arch(self.name, self.config.to_dict(), canonical)

    def check_arch(self, arch: Arch) -> None:
        """An ``ArchError`` unless ``arch`` was made for this space and config (``cost`` and
        ``build`` call it); it names the config values that differ."""
        if arch.space != self.name:
            raise ArchError(f"arch {arch.id} belongs to space {arch.space!r}, not {self.name!r}")
        own = self._config_dict
        if arch.config == own:
            return
        try:  # the same config spelled differently (lists for tuples, defaults left out) is the same
            if self.config_class.from_kwargs(**arch.config) == self.config:
                return
        except (TypeError, ValueError):
            pass
        differ = [f"{k}={arch.config.get(k, '(default)')!r} (this space: {own.get(k)!r})"
                  for k in sorted(set(own) | set(arch.config)) if _plain(arch.config.get(k)) != _plain(own.get(k))]
        raise ArchError(f"arch {arch.id} was made for another {self.name} config ({', '.join(differ)}); "
                        "make it with this space's arch(choices)")

    def check(self, choices: Mapping[str, Any]) -> None:
        """Hook for rules that span several decisions; raise ``ArchError`` to reject."""

    def sample(self, rng: RandomLike = None) -> Arch:
        """A uniformly random valid architecture."""
        rng = as_random(rng)
        return self.arch({d.name: d.options[rng.randrange(len(d.options))] for d in self.decisions()})

    def arch_from_indices(self, indices: Mapping[str, int] | list[int]) -> Arch:
        """Build an arch from option indices (a list follows ``decisions()`` order)."""
        decisions = self.decisions()
        if not isinstance(indices, Mapping):
            if len(indices) != len(decisions):
                raise ArchError(f"expected {len(decisions)} indices, got {len(indices)}")
            indices = dict(zip((d.name for d in decisions), indices))
        out = {}
        for name, i in indices.items():
            d = self.decision(name)
            if not 0 <= int(i) < len(d.options):
                raise ArchError(f"decision {name!r}: index {i} out of range 0..{len(d.options) - 1}")
            out[name] = d.options[int(i)]
        return self.arch(out)

    def _names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.decisions())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def _checking_arch(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method(self, arch, ...)`` that first refuses an ``Arch`` of another space or config
    (a plain choices mapping, which some spaces accept, is validated by the space itself)."""

    @functools.wraps(method)
    def checked(self: SearchSpace, arch: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(arch, Arch):
            self.check_arch(arch)
        return method(self, arch, *args, **kwargs)

    checked._checks_arch = True  # type: ignore[attr-defined]
    return checked


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def as_random(rng: RandomLike) -> random.Random:
    """Turn a seed, ``random.Random``, numpy ``Generator`` or ``None`` into ``random.Random``."""
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, np.random.Generator):
        return random.Random(int(rng.integers(0, 2**63 - 1)))
    if rng is None or isinstance(rng, int):
        return random.Random(rng)
    raise TypeError(f"rng must be a seed, random.Random or numpy Generator, got {type(rng).__name__}")
