"""The ``table`` evaluator: replay of a benchmark table written by ``nasengine tabulate``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nasengine.arch import Arch
from nasengine.evaluators.base import Evaluation, Evaluator
from nasengine.space import SearchSpace
from nasengine.utils.files import jsonable


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
        if not path.is_file():
            raise ValueError(f"benchmark table {str(path)!r} does not exist; make one with `nasengine tabulate`")
        table = json.loads(path.read_text())
        config = jsonable(space.config.to_dict())
        if table.get("space") != space.name or table.get("config") != config:
            raise ValueError(f"table {str(path)!r} was made for space {table.get('space')!r} with config "
                             f"{table.get('config')}, not for {space.name!r} with {config}")
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
