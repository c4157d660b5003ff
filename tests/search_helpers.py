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


def rl_search_argv(table: Path, out: Path, trials: int, *extra: str) -> list[str]:
    """``nasengine search`` of the RL controller on ``table`` (a few seconds for a few trials)."""
    return ["search", "--space", "shufflenet", *SPACE_ARGS, "--strategy", "rl", "--evaluator", f"table:{table}",
            "--trials", str(trials), "--out", str(out), "--quiet", *extra]
