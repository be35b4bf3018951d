"""Ending cleanly on a signal: a dropped ssh connection is a SIGHUP, a `kill` a SIGTERM, and the user's
work (a transcript, a recording, a JSON file) must be kept before the process goes.

Commands that run in the main thread (headless runs, bench) turn SIGHUP and SIGTERM into `Interrupted`,
a KeyboardInterrupt, so the code that already ends cleanly on ctrl+c ends the same way; the app handles
the signals in its event loop instead (app/app.py). The exit code is the shell's convention, 128 + the
signal number (129 SIGHUP, 130 SIGINT, 143 SIGTERM).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType

ENDING_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


def exit_code(signum: int) -> int:
    return 128 + signum


class Interrupted(KeyboardInterrupt):
    """A signal asked the process to end; `code` is the exit code to end with."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.code = exit_code(signum)


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def handling_signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Within the block, SIGHUP, SIGTERM and SIGINT call `handler` (in the main thread)."""
    previous = {s: signal.signal(s, handler) for s in ENDING_SIGNALS}
    previous[signal.SIGTSTP] = signal.getsignal(signal.SIGTSTP)
    count_stops()
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def interrupt_on_signals() -> AbstractContextManager[None]:
    """Within the block, SIGHUP, SIGTERM and SIGINT raise Interrupted in the main thread."""
    return handling_signals(_raise)


def count_stops(stop: Callable[..., object] | int | None = None) -> None:
    """From now on a SIGTSTP (ctrl+z) stops the process as before, by `stop` (a handler already installed, as
    Textual's) or by SIGSTOP, and the time it sat stopped is left out of the engine's clock, so rates count
    only the time the run ran. Main thread only (Python's signal handlers run there)."""
    from .engine import clock

    def stopped(signum: int, frame: FrameType | None) -> None:
        start = time.perf_counter()
        if callable(stop):
            stop(signum, frame)
        else:
            os.kill(os.getpid(), signal.SIGSTOP)  # returns once a SIGCONT has woken the process
        clock.add_stopped(time.perf_counter() - start)

    signal.signal(signal.SIGTSTP, stopped)


def ignore_signals() -> None:
    """From now on the ending signals are ignored (while what was made is being saved)."""
    for s in ENDING_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
