"""A synthetic benchmark table for fast, deterministic search tests (no training)."""

from __future__ import annotations

import json
from pathlib import Path

from nasengine.testing.controllers import SMALL, small_space, synthetic_score

SPACE_ARGS = [item for key, value in SMALL.items()
              for item in ("--set", f"{key}={json.dumps(list(value) if isinstance(value, tuple) else value)}")]


def synthetic_table(path: Path) -> Path:
    space = small_space()
    entries = [{"id": a.id, "choices": dict(a.choices), "acc": synthetic_score(a), **space.cost(a).to_dict()}
               for a in space.all_archs()]
    path.write_text(json.dumps({"space": space.name, "config": json.loads(json.dumps(space.config.to_dict())),
                                "entries": entries}))
    return path
