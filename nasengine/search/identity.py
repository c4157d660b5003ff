"""What a resumed search must agree on with the run in its folder.

``run_search`` checks the run folder (``config.yaml``) before it writes anything: a folder
another command made is refused, and ``--resume`` under options that change what the
search finds (epochs, seed, strategy, evaluator options...) is refused with the
differences named; ``force`` starts over instead. The study's own identity, which workers
sharing a storage must agree on, is checked when the study opens (``study.study_identity``).
"""

from __future__ import annotations

from typing import Any

from nasengine.search.config import SearchConfig
from nasengine.utils.files import jsonable
from nasengine.utils.run_folder import claim, require_same

#: Options a resumed search may change: how long and where it runs, not what it finds. The
#: heartbeat and the weights folder are the study's, fixed by its first worker.
RESUMABLE = ("kind", "trials", "timeout", "top_k", "out", "storage", "study", "device", "threads", "data_root",
             "latency_table", "heartbeat_interval", "heartbeat_grace", "weights_dir")


def check_run_folder(cfg: SearchConfig, *, resume: bool, force: bool = False) -> dict[str, Any] | None:
    """Refuse a run folder ``cfg.out`` that holds another command's run, or (with
    ``resume``) a search under other settings; ``force`` empties it first. Returns the
    stored config of the search being resumed (``None`` when there is none)."""
    if force and resume:
        raise ValueError("--force starts over and --resume continues; give one")
    if force and cfg.storage is not None:
        raise ValueError("--force empties --out but cannot delete a study in a shared --storage; "
                         "choose another --study instead")
    stored = claim(cfg.out, "search", force=force)
    if stored is not None and resume:
        require_same(cfg.out, stored, jsonable(cfg.to_dict()), ignore=RESUMABLE,
                     hint="resume with the same options, or choose another --out, or pass --force to start over")
    return stored
