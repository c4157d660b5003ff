"""Training hyperparameters searched beside the architecture (``--tune NAME=SPEC``) and
decisions pinned to one option (``--fix NAME=OPTION``).

A SPEC is ``log:LOW:HIGH`` (a float on a log scale), ``float:LOW:HIGH``, ``int:LOW:HIGH``
or a comma list of values (a categorical choice): ``--tune lr=log:1e-4:1e-1
--tune optimizer=sgd,adamw``. Each trial suggests every tuned setting as an Optuna parameter
(the controller's independent sampler draws them) and the evaluator trains with them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import optuna
import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from nasengine.train.loop import TrainConfig
from nasengine.utils import yaml_values

#: The spec prefixes of numeric ranges.
RANGE_KINDS = ("log", "float", "int")
_TYPES = {f.name: f.type for f in dataclasses.fields(TrainConfig)}


@dataclass(frozen=True)
class TuneSpec:
    """One tuned setting: a numeric range (``kind`` in ``RANGE_KINDS``) or ``choices``."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def distribution(self) -> BaseDistribution:
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high))
        if self.kind in ("log", "float"):
            return FloatDistribution(self.low, self.high, log=self.kind == "log")
        return CategoricalDistribution(self.choices)

    def bounds(self) -> tuple[Any, ...]:
        """The values a trial may get at the edges (every value of a categorical)."""
        return self.choices if self.kind == "categorical" else (self.low, self.high)


def parse_spec(name: str, spec: Any) -> TuneSpec:
    """``parse_spec("lr", "log:1e-4:1e-1")``; ``ValueError`` naming the spec and the grammar."""
    grammar = "log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH or a comma list of values"
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"--tune {name}: the spec must be {grammar}, got {spec!r}")
    kind, _, rest = spec.partition(":")
    if kind in RANGE_KINDS:
        parts = rest.split(":")
        try:
            low, high = (int(p) if kind == "int" else float(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            low = high = None
        if low is None or high is None or not low < high or (kind == "log" and low <= 0):
            raise ValueError(f"--tune {name}={spec}: expected {kind}:LOW:HIGH with {'0 < ' if kind == 'log' else ''}"
                             f"LOW < HIGH{' (integers)' if kind == 'int' else ''}")
        return TuneSpec(name, kind, low, high)
    if ":" in spec:
        raise ValueError(f"--tune {name}={spec}: unknown range kind {kind!r}; the spec must be {grammar}")
    try:
        choices = tuple(yaml_values.load(v) if v.strip() else "" for v in spec.split(","))
    except yaml.YAMLError:
        raise ValueError(f"--tune {name}={spec}: cannot parse the comma list; the spec must be {grammar}") from None
    if len(set(map(repr, choices))) != len(choices):
        raise ValueError(f"--tune {name}={spec}: the comma list repeats a value")
    return TuneSpec(name, "categorical", choices=choices)


def parse_tune(tune: Mapping[str, Any], tunable: tuple[str, ...] | None = None) -> dict[str, TuneSpec]:
    """Every spec of ``tune`` checked against the type and range of its training setting.

    Args:
        tune: ``{setting: spec}`` as ``--tune`` and YAML ``tune:`` give it.
        tunable: The settings the evaluator can vary per trial (``None``: every one of
            ``TrainConfig``; a search passes its evaluator's ``TUNABLE``).

    Raises:
        ValueError: An unknown setting (the message lists the tunable ones), a bad spec, a
            range of the wrong type (``int:`` for a float setting) or a value the setting
            refuses (``lr=float:0:1``).
    """
    allowed = tuple(_TYPES) if tunable is None else tunable
    specs = {}
    for name, text in tune.items():
        if name not in allowed or name not in _TYPES:
            raise ValueError(f"--tune {name}: not a tunable training setting; tunable: {', '.join(allowed)}")
        spec = parse_spec(name, text)
        wanted = _TYPES[name]
        if spec.kind in RANGE_KINDS and (wanted == "str" or (wanted == "int") != (spec.kind == "int")):
            hint = "a comma list" if wanted == "str" else ("int:LOW:HIGH" if wanted == "int" else "log: or float:")
            raise ValueError(f"--tune {name}={text}: {name} is a {wanted} setting; give {hint}")
        for value in spec.bounds():
            try:
                TrainConfig(**{name: value})
            except (TypeError, ValueError) as exc:
                raise ValueError(f"--tune {name}={text}: {exc}") from None
        specs[name] = spec
    return specs


def suggest_hparams(trial: optuna.Trial, specs: Mapping[str, TuneSpec]) -> dict[str, Any]:
    """The trial's value of every tuned setting (in ``specs`` order)."""
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec.kind == "int":
            values[name] = trial.suggest_int(name, int(spec.low), int(spec.high))
        elif spec.kind in ("log", "float"):
            values[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.kind == "log")
        else:
            values[name] = trial.suggest_categorical(name, spec.choices)
    return values


def parse_pairs(items: list[str] | None, option: str, *, typed: bool = False) -> dict[str, Any]:
    """``["lr=log:1e-4:1e-1"]`` -> ``{"lr": "log:1e-4:1e-1"}``: values kept as text, or read
    as YAML scalars when ``typed`` (``--fix width=0.5`` gives a float)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{option} expects NAME=VALUE, got {item!r}")
        if key.strip() in out:
            raise ValueError(f"{option} {key.strip()} is given twice")
        try:
            out[key.strip()] = yaml_values.load(value) if typed else value.strip()
        except yaml.YAMLError:
            raise ValueError(f"{option} {key.strip()}: cannot parse value {value!r}") from None
    return out
