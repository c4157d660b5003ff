"""SIGTERM raised as an interrupt in the main thread while a command runs."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from nasengine.utils.signals import Terminated, interrupts_deferred, terminate_as_interrupt


def test_sigterm_becomes_a_keyboard_interrupt_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as info:
        with terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
    assert isinstance(info.value, Terminated) and info.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_signal_while_saving_is_ignored():
    saved = []
    with pytest.raises(Terminated):
        with terminate_as_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except KeyboardInterrupt:
                os.kill(os.getpid(), signal.SIGTERM)  # the scheduler repeats itself; saving goes on
                saved.append(True)
                raise
    assert saved == [True]


def test_outside_the_main_thread_nothing_is_installed():
    seen = []

    def body():
        with terminate_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]


def test_interrupts_inside_a_deferred_block_arrive_when_it_ends():
    before, steps = signal.getsignal(signal.SIGTERM), []
    with pytest.raises(KeyboardInterrupt) as info:
        with terminate_as_interrupt():
            for step in range(3):
                with interrupts_deferred():
                    os.kill(os.getpid(), signal.SIGTERM if step == 1 else 0)  # signal 0: no signal
                    steps.append(step)  # the unit of work completes despite the signal
    assert steps == [0, 1] and isinstance(info.value, Terminated)
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_inside_a_deferred_block_is_a_keyboard_interrupt_after_it():
    # Python's own Ctrl-C handler, as in a terminal; a process started in the background
    # by a shell without job control inherits SIGINT ignored instead.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                done.append(True)
        assert done == [True] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)


def test_an_ignored_ctrl_c_stays_ignored_after_a_deferred_block():
    outer = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        done = []
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append(True)
        assert done == [True] and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)
