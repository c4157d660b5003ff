"""The one timing primitive: warm-up, synchronisation, round-robin interleaving, median,
and a choice of clock. Latency tables, dynamic-network timing and the benches time through it.

Timing is round-robin: after a warm-up, every round calls each module once, and a module's
latency is the median over rounds. A module then runs after other modules, with their data
in the caches, as inside a network; and a load change on a busy machine hits every module
alike instead of a few. ``clock="thread"`` counts the CPU time of the calling thread only.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from nasengine.utils.devices import resolve_device
from nasengine.utils.progress import progress_bar
from nasengine.utils.validation import positive_int

CLOCKS = ("wall", "thread")
#: Modules timed together in one round-robin group (bounds memory on large spaces).
GROUP = 128


@contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Run with ``torch.set_num_threads(threads)``, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(positive_int("threads", threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Timing:
    """How tables and checks time: device, batch size, torch threads, warm-up calls,
    repeats (rounds) and clock (``wall`` or ``thread``)."""

    device: str = "cpu"
    batch: int = 1
    threads: int = 1
    warmup: int = 10
    repeats: int = 30
    clock: str = "wall"

    def __post_init__(self) -> None:
        for name in ("batch", "threads", "repeats"):
            positive_int(name, getattr(self, name))
        if not isinstance(self.warmup, int) or isinstance(self.warmup, bool) or self.warmup < 0:
            raise ValueError(f"warmup must be an integer >= 0, got {self.warmup!r}")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {list(CLOCKS)}, got {self.clock!r}")
        if self.clock == "thread" and (self.device != "cpu" or self.threads != 1):
            raise ValueError("clock 'thread' measures one CPU thread: it needs device cpu and threads 1")

    def time_modules(self, modules: Sequence[tuple[nn.Module, tuple[int, ...]]], *, progress: bool = False,
                     desc: str = "timing") -> list[float]:
        """Median milliseconds of one call of each ``(module, input_shape)``, round-robin in
        groups of ``GROUP``; inputs are random batches of ``batch`` examples."""
        device = resolve_device(self.device)
        clock = time.thread_time if self.clock == "thread" else time.perf_counter
        sync = torch.cuda.synchronize if device.type == "cuda" else _no_sync
        result: list[float] = []
        groups = [modules[i:i + GROUP] for i in range(0, len(modules), GROUP)]
        with pinned_threads(self.threads), torch.inference_mode():
            for group in progress_bar(groups, enabled=progress and len(groups) > 1, desc=desc):
                calls = [(m.to(device).eval(), torch.randn((self.batch, *shape), device=device)) for m, shape in group]
                for module, x in calls:
                    for _ in range(self.warmup):
                        module(x)
                sync()
                times: list[list[float]] = [[] for _ in calls]
                for _ in progress_bar(range(self.repeats), enabled=progress and len(groups) == 1, desc=desc):
                    for i, (module, x) in enumerate(calls):
                        t0 = clock()
                        module(x)
                        sync()
                        times[i].append(clock() - t0)
                result += [statistics.median(t) * 1e3 for t in times]
        return result


def _no_sync() -> None:
    pass
