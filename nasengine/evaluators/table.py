"""The ``table`` evaluator: replay of a benchmark table written by ``nasengine tabulate``."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from nasengine.arch import Arch
from nasengine.evaluators.base import Evaluation, Evaluator
from nasengine.records import read_json
from nasengine.space import SearchSpace
from nasengine.utils.files import jsonable


def read_table(path: str | Path) -> dict[str, Any]:
    """The benchmark table in ``path``, checked: ``space``, ``config`` and ``entries``, each
    entry with an ``id`` and an ``acc`` in [0, 1] (and ``choices``, ``accs`` of the right kind). A one-line ``ValueError``
    names the file and the first bad key, so a damaged table never reaches a search."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"benchmark table {str(path)!r} does not exist; make one with `nasengine tabulate`")
    table = read_json(path)
    bad = f"benchmark table {str(path)!r}"
    if not isinstance(table, dict):
        raise ValueError(f"{bad} must be a JSON object with space, config and entries, got {type(table).__name__}")
    for key, kind in (("space", str), ("config", dict), ("entries", list)):
        if key not in table:
            raise ValueError(f"{bad} has no {key!r}")
        if not isinstance(table[key], kind):
            raise ValueError(f"{bad}: {key!r} must be a {_kind(kind)}, got {type(table[key]).__name__}")
    for i, entry in enumerate(table["entries"]):
        _check_entry(entry, f"{bad}: entries[{i}]")
    return table


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object with id, choices and acc, got {type(entry).__name__}")
    for key, kind in (("id", str), ("choices", dict), ("acc", float)):
        if key not in entry and key == "choices":  # what replay needs is the id; rankcheck checks choices
            continue
        if key not in entry:
            raise ValueError(f"{where} has no {key!r}")
        value = entry[key]
        if kind is float:
            if not (_number(value) and 0 <= value <= 1):
                raise ValueError(f"{where}: {key!r} must be an accuracy in [0, 1], got {value!r}")
        elif not isinstance(value, kind):
            raise ValueError(f"{where}: {key!r} must be a {_kind(kind)}, got {value!r}")
    accs = entry.get("accs", [])
    if not isinstance(accs, list) or not all(_number(a) and 0 <= a <= 1 for a in accs):
        raise ValueError(f"{where}: 'accs' must be a list of accuracies in [0, 1], got {accs!r}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_KIND_NAMES: dict[type, str] = {str: "string", dict: "JSON object", list: "list"}


def _kind(kind: type) -> str:
    return _KIND_NAMES[kind]


class TableEvaluator(Evaluator):
    """Looks accuracies up in a table written by ``nasengine tabulate`` (instant, exact replay).

    ``seconds`` makes each look-up take that long, a stand-in for training time: it rehearses
    several workers, their throughput and their failures without training anything.
    """

    def __init__(self, space: SearchSpace, *, path: str | Path, seconds: float = 0.0) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
            raise ValueError(f"table evaluator option seconds must be a number >= 0, got {seconds!r}")
        self.seconds = float(seconds)
        path = Path(path)
        table = read_table(path)
        config = jsonable(space.config.to_dict())
        if table["space"] != space.name or table["config"] != config:
            raise ValueError(f"table {str(path)!r} was made for space {table['space']!r} with config "
                             f"{table['config']}, not for {space.name!r} with {config}")
        self.entries: dict[str, dict[str, Any]] = {e["id"]: e for e in table["entries"]}
        self.path = path

    def evaluate(self, arch: Arch) -> Evaluation:
        entry = self.entries.get(arch.id)
        if entry is None:
            raise KeyError(f"architecture {arch.id} is not in table {str(self.path)!r}")
        if self.seconds:
            time.sleep(self.seconds)
        return Evaluation({"acc": entry["acc"]})

    def best(self) -> float:
        return max(e["acc"] for e in self.entries.values())
