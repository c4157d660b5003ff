"""Run ``nasengine`` as a separate process, wait for a moment in its work, and signal it:
what the kill-and-resume tests share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
#: One thread per process: runs in one test compare weights, which thread count changes.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start(*argv: str) -> subprocess.Popen:
    """``python -m nasengine ARGV`` in the background, its output captured as text."""
    return subprocess.Popen([sys.executable, "-m", "nasengine", *argv], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m nasengine ARGV`` to its end."""
    return subprocess.run([sys.executable, "-m", "nasengine", *argv], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    """Poll ``condition`` until it holds; fail (with the process's stderr) if ``proc`` ends first."""
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {proc.stderr.read() if proc.stderr else ''}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def signal_and_wait(proc: subprocess.Popen, signum: int) -> str:
    """Send ``signum``; return the process's stderr once it has ended."""
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    return err
