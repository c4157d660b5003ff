"""Found archs that a sampled benchmark table lacks, trained as its entries were.

A table of a large space holds a random sample, so a search's find is often not in it.
``bench value`` then trains it with the table's recipe and seeds, which makes its accuracy
comparable with every entry, and keeps the result in a JSON-lines file so that a rerun
(or the same find in another seed) trains nothing twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from nasengine.search.tabulate import train_as_table
from nasengine.utils.run_folder import require_same


class RetrainedEntries:
    """Entries of ``table`` plus the archs trained for it, cached in ``path``.

    Args:
        table: A benchmark table (``nasengine tabulate``).
        path: JSON-lines cache: a settings line, then one entry per trained arch.
    """

    def __init__(self, table: Mapping[str, Any], path: Path) -> None:
        self.table = table
        self.path = path
        self.settings = {k: table[k] for k in ("space", "config", "train")}
        self.entries = {e["id"]: e for e in table["entries"]}
        self.trained: dict[str, dict[str, Any]] = {}
        if path.is_file():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if lines and "settings" in lines[0]:
                require_same(str(path), lines[0]["settings"], self.settings)
            self.trained = {e["id"]: e for e in lines if "id" in e}

    def acc(self, arch_id: str, choices: Mapping[str, Any]) -> float:
        """The arch's table accuracy, training it first when the table lacks it."""
        if arch_id in self.entries:
            return float(self.entries[arch_id]["acc"])
        if arch_id not in self.trained:
            entry = train_as_table(self.table, choices)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as log:
                if not self.trained and (not self.path.is_file() or self.path.stat().st_size == 0):
                    log.write(json.dumps({"settings": self.settings}) + "\n")
                log.write(json.dumps(entry, allow_nan=False) + "\n")
            self.trained[arch_id] = entry
        return float(self.trained[arch_id]["acc"])
