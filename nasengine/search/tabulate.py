"""Benchmark tables: train every architecture of a small space (or a seeded random sample of
a large one) and store the accuracies, so that controllers can be compared by replay
(``--evaluator table:FILE``) and the task itself can be measured (``nasengine bench task``).

Progress is appended to ``FILE.partial.jsonl`` after every architecture (its first line
records the settings); an interrupted run started again with the same arguments continues
where it stopped, and one with settings that change the accuracies is refused, as is a
rerun over a finished table with other settings (``force`` starts over). ``workers`` trains
several architectures at once, one process each, the host's cores shared among them (small
networks on a CPU are bound by per-operation overhead, which threads do not share out but
processes do).
"""

from __future__ import annotations

import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import torch

from nasengine.arch import Arch
from nasengine.controller import distinct_random
from nasengine.cost import human
from nasengine.records.base import read_json
from nasengine.space import SearchSpace
from nasengine.utils.files import jsonable
from nasengine.utils.progress import log_line, log_lines, progress_bar
from nasengine.utils.run_folder import require_same
from nasengine.utils.threads import default_threads, use_threads
from nasengine.utils.validation import output_path, positive_int

MAX_ARCHS = 5000


def tabulate(space: SearchSpace, out: str | Path, *, seeds: int = 1, samples: int | None = None,
             max_macs: int | None = None, workers: int = 1, progress: bool = True, threads: int | None = None,
             force: bool = False, **train_options: Any) -> dict[str, Any]:
    """Train the archs of ``space`` with ``TrainEvaluator(**train_options)``; write JSON.

    Args:
        space: The space; every arch is trained unless ``samples`` is given.
        out: Table file.
        seeds: Trainings per arch (seeds ``seed .. seed+seeds-1``); the mean accuracy is
            stored as ``acc`` and each run's in ``accs``. The table records the count as
            ``train.repeats``, like the tables written before the option was renamed.
        samples: Train this many distinct random archs (drawn with ``random.Random(seed)``)
            instead of all of them.
        max_macs: Only archs with at most this many MACs.
        workers: Processes training at once.
        threads: Torch threads of each worker (default: ``default_threads(workers)``; with
            one worker, this process's count as it is).
        force: Start over: retrain although ``out`` or its partial file hold entries
            trained with other settings (a finished table with the same settings is
            returned as it is without ``force``).
        train_options: ``TrainEvaluator`` options (dataset, epochs, lr, seed...).
    """
    for name, value in (("seeds", seeds), ("workers", workers)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if samples is not None and samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    out = output_path("--out", out, folder=False)
    partial = out.with_name(out.name + ".partial.jsonl")
    seed = train_options.pop("seed", 0)
    settings = jsonable({"space": space.name, "config": space.config.to_dict(),
                         "train": {**train_options, "seed": seed, "repeats": seeds},
                         "selection": {"samples": samples, "max_macs": max_macs}})
    if out.is_file() and not force:
        finished = read_json(out)
        require_same(str(out), {k: finished.get(k) for k in settings}, settings)
        print(f"{out} already holds this table; nothing to train (--force trains again)", file=sys.stderr)
        return finished
    if workers > 1:
        threads = default_threads(workers) if threads is None else positive_int("threads", threads)
    else:  # this process trains: it keeps its thread count unless told one
        threads = torch.get_num_threads() if threads is None else use_threads(threads)
    archs = choose_archs(space, samples=samples, max_macs=max_macs, seed=seed)
    if not archs:
        raise ValueError(f"no architecture of space {space.name!r} has at most --max-macs {max_macs:g} MACs")
    done = {} if force else _resumed(partial, settings)
    job = {"space": space.name, "config": space.config.to_dict(), "seeds": [seed + r for r in range(seeds)],
           "train": train_options}
    _start_worker(job, threads=None)  # checks the training settings and the data before anything is written
    out.parent.mkdir(parents=True, exist_ok=True)
    todo = [a for a in archs if a.id not in done]
    if done:
        print(f"resuming from {partial}: {len(archs) - len(todo)} of {len(archs)} architectures done", file=sys.stderr)
    with partial.open("a" if done else "w") as log:
        if not done:
            log.write(json.dumps({"settings": settings}) + "\n")
        for entry in progress_bar(_train_all(job, todo, workers, threads), enabled=progress, desc="tabulate",
                                  total=len(todo)):
            done[entry["id"]] = entry
            log.write(json.dumps(entry, allow_nan=False) + "\n")
            log.flush()
            if log_lines(progress):
                accs = ", ".join(f"{a:.4f}" for a in entry["accs"])
                log_line(f"tabulate {len(done)}/{len(archs)}  {entry['id']}  acc {entry['acc']:.4f} ({accs})  "
                         f"MACs {human(entry['macs'])}  {entry['seconds']:.1f}s")
    table = {**settings, "threads": threads, "entries": [done[a.id] for a in archs]}
    out.write_text(json.dumps(table, indent=1, allow_nan=False) + "\n")
    partial.unlink()
    return table


def _resumed(partial: Path, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries an interrupted run left in ``partial``, by id; refused when its header
    records other settings (files without a header, from older versions, are trusted)."""
    done: dict[str, dict[str, Any]] = {}
    if not partial.exists():
        return done
    for number, line in enumerate(partial.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(partial)!r} line {number} is not JSON ({exc}); delete the file to start over") from None
        if isinstance(entry, dict) and "settings" in entry:
            require_same(str(partial), entry["settings"], settings)
        elif not isinstance(entry, dict) or "id" not in entry:
            raise ValueError(f"{str(partial)!r} line {number} is not a table entry (no 'id'); delete the file to start over")
        else:
            done[entry["id"]] = entry
    return done


def choose_archs(space: SearchSpace, *, samples: int | None, max_macs: int | None, seed: int) -> list[Arch]:
    """All archs under ``max_macs`` in enumeration order, or ``samples`` distinct random ones."""
    def fits(arch: Arch) -> bool:
        return max_macs is None or space.cost(arch).macs <= max_macs

    if samples is None:
        return [a for a in space.all_archs(limit=MAX_ARCHS) if fits(a)]
    return distinct_random(space, fits, samples, random.Random(seed))


def _train_all(job: dict[str, Any], archs: list[Arch], workers: int, threads: int) -> Iterator[dict[str, Any]]:
    """Table entries in completion order (in order, in this process, with one worker)."""
    if workers == 1:  # the evaluators ``tabulate`` made run in this process
        yield from (_train_one(dict(a.choices)) for a in archs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker,
                             initargs=(job, threads)) as pool:
        yield from _as_completed(pool.submit(_train_one, dict(a.choices)) for a in archs)


def _as_completed(futures: Iterable[Any]) -> Iterator[dict[str, Any]]:
    from concurrent.futures import as_completed

    for future in as_completed(list(futures)):
        yield future.result()


_WORKER: dict[str, Any] = {}


def _start_worker(job: dict[str, Any], threads: int | None) -> None:
    """Build the space and one evaluator per seed (once per process)."""
    import torch

    from nasengine.evaluators.train import TrainEvaluator
    from nasengine.registry import get_space

    if threads is not None:
        torch.set_num_threads(threads)
    space = get_space(job["space"], **job["config"])
    _WORKER.update(space=space, evaluators=[TrainEvaluator(space, seed=s, **job["train"]) for s in job["seeds"]])


def _train_one(choices: dict[str, Any]) -> dict[str, Any]:
    space, evaluators = _WORKER["space"], _WORKER["evaluators"]
    arch = space.arch(choices)  # choices cross the process boundary, not the Arch
    t0 = time.perf_counter()
    accs = [ev.evaluate(arch).metrics["acc"] for ev in evaluators]
    return {"id": arch.id, "choices": dict(arch.choices), "acc": sum(accs) / len(accs), "accs": accs,
            **space.cost(arch).to_dict(), "seconds": round(time.perf_counter() - t0, 3)}


def train_as_table(table: Mapping[str, Any], choices: Mapping[str, Any]) -> dict[str, Any]:
    """Train one arch in this process exactly as ``table``'s entries were trained (its
    space, config, recipe and seeds); return its entry. Judges archs a sampled table lacks."""
    train = dict(table["train"])
    seed, repeats = train.pop("seed", 0), train.pop("repeats", 1)
    job = {"space": table["space"], "config": table["config"], "seeds": [seed + r for r in range(repeats)],
           "train": train}
    if _WORKER.get("job") != job:
        _start_worker(job, threads=None)
        _WORKER["job"] = job
    return _train_one(dict(choices))
