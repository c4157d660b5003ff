"""The one timing primitive: warm-up, synchronisation, round-robin interleaving, median,
and a choice of clock. Latency tables, dynamic-network timing, the dynamic cost tables and
the benches time through :func:`time_calls`.

Timing is round-robin: after the warm-up rounds, every round calls each callable once (or
``number`` times back to back), and a callable's time is the median over rounds. A callable
then runs after the others, with their data in the caches, as inside a network; and a load
change on a busy machine hits every callable alike instead of a few. ``clock="thread"``
counts the CPU time of the calling thread only (single-threaded CPU timing that ignores
time the process waits for a core); ``clock="event"`` times on the GPU with CUDA events.
"""

from __future__ import annotations

import functools
import statistics
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from nasengine.utils.devices import resolve_device
from nasengine.utils.progress import progress_bar
from nasengine.utils.validation import non_negative_int, one_of, positive_int

#: Clocks a latency table may be measured with.
CLOCKS = ("wall", "thread")
#: Clocks of :func:`time_calls`: those of tables, and CUDA events (GPU time of back-to-back calls).
CALL_CLOCKS = (*CLOCKS, "event")
#: How :func:`time_calls` summarises the rounds of one callable.
STATISTICS = ("median", "min")
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


def time_calls(calls: Sequence[Callable[[], object]], *, warmup: int, repeats: int,
               device: str | torch.device = "cpu", clock: str = "wall", number: int = 1, alternate: bool = False,
               statistic: str = "median", threads: int | None = None, progress: bool = False,
               desc: str = "timing") -> list[float]:
    """Milliseconds of one call of each of ``calls``, timed round-robin.

    Args:
        calls: Zero-argument callables, timed in the same rounds.
        warmup: Untimed rounds first; each calls every callable once.
        repeats: Timed rounds; each gives every callable one sample.
        device: Where the calls run; on CUDA the device is synchronised before and after
            each sample, so a sample holds the work the calls queued.
        clock: ``"wall"`` (``time.perf_counter``), ``"thread"`` (CPU time of this thread;
            cpu only) or ``"event"`` (CUDA events; cuda only).
        number: Back-to-back calls per sample (no synchronisation between them); the
            sample is their mean.
        alternate: Reverse the order of the calls every other round (warm-up rounds
            included, the first round in the given order), so no callable always runs
            first; otherwise every round keeps the given order.
        statistic: ``"median"`` or ``"min"`` of a callable's samples.
        threads: Torch threads while timing (``None``: leave as is).
        progress: Show a progress bar over the timed rounds.
        desc: The progress bar's label.

    Returns:
        One time per callable, in milliseconds per call, in the order of ``calls``.
    """
    non_negative_int("warmup", warmup)
    positive_int("repeats", repeats)
    positive_int("number", number)
    one_of("clock", clock, CALL_CLOCKS)
    one_of("statistic", statistic, STATISTICS)
    device = resolve_device(device)
    if clock == "thread" and device.type != "cpu":
        raise ValueError("clock 'thread' measures one CPU thread: it needs device cpu")
    if clock == "event" and device.type != "cuda":
        raise ValueError("clock 'event' uses CUDA events: it needs a cuda device")
    sample = _event_sample if clock == "event" else functools.partial(
        _clock_sample, time.thread_time if clock == "thread" else time.perf_counter)
    reduce = statistics.median if statistic == "median" else min
    samples: list[list[float]] = [[] for _ in calls]
    with nullcontext() if threads is None else pinned_threads(threads):
        for r in range(warmup):
            for i in _order(len(calls), r, alternate):
                calls[i]()
        for r in progress_bar(range(warmup, warmup + repeats), enabled=progress, desc=desc, total=repeats):
            for i in _order(len(calls), r, alternate):
                samples[i].append(sample(calls[i], number, device))
    return [reduce(s) for s in samples]


def _order(n: int, round_index: int, alternate: bool) -> range:
    return range(n - 1, -1, -1) if alternate and round_index % 2 else range(n)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock_sample(clock: Callable[[], float], call: Callable[[], object], number: int, device: torch.device) -> float:
    _sync(device)
    t0 = clock()
    for _ in range(number):
        call()
    _sync(device)
    return (clock() - t0) * 1e3 / number


def _event_sample(call: Callable[[], object], number: int, device: torch.device) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    _sync(device)
    start.record()
    for _ in range(number):
        call()
    end.record()
    _sync(device)
    return start.elapsed_time(end) / number


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
        non_negative_int("warmup", self.warmup)
        one_of("clock", self.clock, CLOCKS)
        if self.clock == "thread" and (self.device != "cpu" or self.threads != 1):
            raise ValueError("clock 'thread' measures one CPU thread: it needs device cpu and threads 1")

    def time_modules(self, modules: Sequence[tuple[nn.Module, tuple[int, ...]]], *, progress: bool = False,
                     desc: str = "timing") -> list[float]:
        """Median milliseconds of one call of each ``(module, input_shape)``, round-robin in
        groups of ``GROUP`` (:func:`time_calls`); inputs are random batches of ``batch`` examples."""
        device = resolve_device(self.device)
        result: list[float] = []
        groups = [modules[i:i + GROUP] for i in range(0, len(modules), GROUP)]
        with pinned_threads(self.threads), torch.inference_mode():
            for group in progress_bar(groups, enabled=progress and len(groups) > 1, desc=desc):
                calls = [functools.partial(m.to(device).eval(), torch.randn((self.batch, *shape), device=device))
                         for m, shape in group]
                result += time_calls(calls, warmup=self.warmup, repeats=self.repeats, device=device, clock=self.clock,
                                     progress=progress and len(groups) == 1, desc=desc)
        return result
