"""Termination signals handled like Ctrl-C: what cluster schedulers send before they
preempt a job (SIGTERM) saves and exits the way an interrupt does."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


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
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
