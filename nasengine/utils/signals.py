"""Termination signals handled like Ctrl-C: what cluster schedulers send before they
preempt a job (SIGTERM) saves and exits the way an interrupt does."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class Terminated(KeyboardInterrupt):
    """A termination signal arrived; every handler of ``KeyboardInterrupt`` saves for it too.

    Attributes:
        signum: The signal's number (``signal.SIGTERM``); ``nasengine`` exits with
            ``128 + signum`` (143), as a shell reports a process the signal ended.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


@contextmanager
def terminate_as_interrupt(signums: tuple[int, ...] = (signal.SIGTERM,)) -> Iterator[None]:
    """While active, ``signums`` raise ``Terminated`` in the main thread (then the usual
    interrupt handling saves the finished work); the previous handlers come back after.

    A second signal while the first is being handled is ignored, so that saving can finish.
    Outside the main thread (where Python cannot install handlers) it does nothing.
    """
    raised = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Terminated(signum)

    with _handled_by(handler, signums):
        yield


@contextmanager
def interrupts_deferred(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold ``signums`` back until the block ends, then handle them as before it began.

    Wrapped around one unit of work (an optimizer update and its step count), an interrupt
    finds that work either done or not begun, so what is saved then resumes exactly. The
    first signal of each kind is kept; outside the main thread this does nothing.
    """
    held: dict[int, Any] = {}

    def hold(signum: int, frame: Any) -> None:
        held.setdefault(signum, frame)

    with _handled_by(hold, signums) as previous:
        yield
    for signum in held:
        handler = previous[signum]
        if callable(handler):  # Python's own SIGINT handler raises KeyboardInterrupt
            handler(signum, held[signum])
        elif handler == signal.SIG_DFL:  # what the signal would have done: end the process
            signal.raise_signal(signum)


@contextmanager
def _handled_by(handler: Callable[[int, Any], None], signums: tuple[int, ...]) -> Iterator[dict[int, Any]]:
    """``handler`` for ``signums`` inside the block (in the main thread only: elsewhere Python
    cannot install one, and nothing changes); yields the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        yield {}
        return
    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield previous
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
