"""``nasengine bench scale``: how search throughput grows with workers sharing one study.

For each storage (a SQLite file; a PostgreSQL server, by default a throwaway one from the
``postgres`` extra) and each worker count, starts that many ``nasengine search`` processes
on one fresh study with the table evaluator (a benchmark table replayed, each look-up made
to take ``--seconds``, a stand-in for training) and records the completed trials per
minute, from the first trial's start to the last one's end as the storage recorded them
(process start-up is left out), and its ratio to one worker. A kill row per storage then
kills one of the workers in the middle of a trial, starts a replacement with ``--resume``
and counts the trials lost (fewer completed than asked) and evaluated twice (goal: 0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import optuna

from nasengine.bench.base import BenchSuite

#: The committed table of the channel-width space (128 archs) that the workers replay.
DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "reports" / "tables" / "widths_cluttered.json"


def _worker(table: Path, storage: str, study: str, out: Path, args: argparse.Namespace, *extra: str) -> subprocess.Popen:
    doc = json.loads(table.read_text())
    space_set = [item for k, v in doc["config"].items() for item in ("--set", f"{k}={json.dumps(v)}")]
    argv = [sys.executable, "-m", "nasengine", "search", "--space", doc["space"], *space_set, "--strategy", "random",
            "--evaluator", f"table:{table}", "--evaluator-set", f"seconds={args.seconds}", "--trials", str(args.trials),
            "--storage", storage, "--study", study, "--out", str(out), "--weights-dir", str(out.parent / "weights"),
            "--heartbeat-interval", "1", "--heartbeat-grace", "3", "--quiet", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise RuntimeError(f"a worker failed ({p.returncode}): {err.strip()[-2000:]}")


def _tally(storage: str, study: str) -> dict[str, Any]:
    trials = optuna.load_study(study_name=study, storage=storage).trials
    done = [t for t in trials if t.state.name == "COMPLETE"]
    evaluated = [t.user_attrs["arch_id"] for t in done if "reused" not in t.user_attrs]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in trials)).total_seconds()
    return {"completed": len(done), "reused": len(done) - len(evaluated),
            "evaluated_twice": len(evaluated) - len(set(evaluated)), "span": span}


def _kill_run(table: Path, storage: str, study: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Workers on one study, one killed in the middle of a trial and replaced by ``--resume``."""
    procs = [_worker(table, storage, study, folder / f"w{i}", args) for i in range(args.kill_workers)]
    victim = procs[0]
    while victim.poll() is None:  # until the victim is evaluating (its architecture recorded)
        time.sleep(0.1)
        try:
            trials = optuna.load_study(study_name=study, storage=storage).trials
        except KeyError:
            continue
        if any(t.state.name == "RUNNING" and "arch" in t.user_attrs and t.user_attrs.get("worker", {}).get("pid")
               == victim.pid for t in trials):
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    procs[0] = _worker(table, storage, study, folder / "replacement", args, "--resume")
    _wait(procs)
    return _tally(storage, study)


def bench_scale(args: argparse.Namespace) -> list[dict[str, Any]]:
    counts = sorted({int(n) for n in args.workers.split(",") if n.strip()})
    storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    bad = [s for s in storages if s not in ("sqlite", "postgresql")]
    if bad or not storages:
        raise ValueError(f"--storages: unknown storage(s) {bad or [args.storages]}; choose from sqlite, postgresql")
    if not counts or counts[0] < 1 or args.trials < 1 or not args.seconds >= 0 or args.kill_workers < 2:
        raise ValueError("--workers, --trials must be >= 1, --seconds >= 0 and --kill-workers >= 2")
    table = Path(args.table)
    if not table.is_file():
        raise ValueError(f"--table {str(table)!r} does not exist")
    rows: list[dict[str, Any]] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")  # fresh study names, also in an existing --postgres database
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nasengine-scale-")))
        for name in storages:
            server = None if name == "sqlite" else (args.postgres or _throwaway_postgres(stack))
            base = None
            for n in [*counts, None]:  # None: the kill test
                study = f"scale-{name}-{n or 'kill'}-{stamp}"
                folder = root / study
                folder.mkdir()
                url = server or f"sqlite:///{folder / 'study.db'}"
                row: dict[str, Any] = {"storage": name, "workers": n or args.kill_workers, "trials": args.trials,
                                       "seconds_per_trial": args.seconds}
                if n is None:
                    tally = _kill_run(table, url, study, folder, args)
                else:
                    _wait([_worker(table, url, study, folder / f"w{i}", args) for i in range(n)])
                    tally = _tally(url, study)
                per_minute = 60 * tally["completed"] / tally["span"]
                base = base or per_minute
                rows.append({**row, "kill_test": n is None, "completed": tally["completed"], "reused": tally["reused"],
                             "lost": args.trials - tally["completed"], "evaluated_twice": tally["evaluated_twice"],
                             # the kill test's throughput includes the wait for the killed trial's heartbeat
                             "trials_per_min": None if n is None else round(per_minute, 1),
                             "ratio_to_1": None if n is None else round(per_minute / base, 2)})
    return rows


def _throwaway_postgres(stack: ExitStack) -> str:
    from nasengine.testing.postgres import TemporaryPostgres

    return stack.enter_context(TemporaryPostgres()).url


def _scale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    p.add_argument("--trials", type=int, default=24, help="trials per study (all workers together)")
    p.add_argument("--seconds", type=float, default=0.5, help="seconds each table look-up takes (stand-in for training)")
    p.add_argument("--storages", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--postgres", metavar="URL", help="an existing PostgreSQL database (default: a throwaway server "
                                                     "from the postgres extra)")
    p.add_argument("--kill-workers", type=int, default=2, help="workers in the kill test (one is killed)")
    p.add_argument("--table", default=str(DEFAULT_TABLE), help="benchmark table the workers replay")


SCALE_SUITE = BenchSuite(help="trials per minute with 1, 2, 4 workers on SQLite and PostgreSQL (table evaluator); "
                              "trials lost or evaluated twice when a worker is killed",
                         add_arguments=_scale_arguments, run=bench_scale)
