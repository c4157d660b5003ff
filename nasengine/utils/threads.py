"""How many torch threads a command computes with: ``OMP_NUM_THREADS`` when set, else all
of this host's cores, shared out among the workers of one study running on the same host.

Workers register in a per-host folder (``workers_folder``): one file per live process,
named by its pid, removed when it ends; a file whose process is gone is not counted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads(workers: int = 1) -> int:
    """``OMP_NUM_THREADS`` if it is set to a positive integer (the user's choice for each
    process), else this host's cores divided by ``workers`` (at least one)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, host_cores() // max(1, workers))


def use_threads(threads: int | None = None, *, workers: int = 1) -> int:
    """Set torch's thread count to ``threads`` (default: ``default_threads(workers)``);
    returns the count set."""
    if threads is None:
        threads = default_threads(workers)
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"--threads must be an integer >= 1, got {threads!r}")
    torch.set_num_threads(threads)
    return threads


def workers_folder(key: str) -> Path:
    """The per-host folder where the workers of study ``key`` (its storage URL and name)
    register: under the system's temporary directory, one folder per study."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "nasengine-workers" / digest


@contextmanager
def registered_worker(key: str) -> Iterator[int]:
    """Register this process as a worker of study ``key`` on this host while the block
    runs; yields the number of live workers of the study here, this one included."""
    folder = workers_folder(key)
    folder.mkdir(parents=True, exist_ok=True)
    mine = folder / str(os.getpid())
    mine.touch()
    try:
        yield sum(1 for f in folder.iterdir() if _alive(f))
    finally:
        mine.unlink(missing_ok=True)


def _alive(entry: Path) -> bool:
    if not entry.name.isdigit():
        return False
    try:
        os.kill(int(entry.name), 0)
    except ProcessLookupError:
        entry.unlink(missing_ok=True)  # a worker killed before it could remove its file
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch single-threaded inside the block, then restore the thread count.

    For small networks (a controller's policy, an agent's actor and critic): with the
    default thread pool, each op on tensors of a few hundred numbers pays a thread hand-off
    that costs 10-50x the arithmetic on a busy machine; one thread also makes the
    arithmetic independent of the user's thread count, which exact replay relies on.
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)
