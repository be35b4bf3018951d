"""The engine's clock: seconds the process ran, not seconds it sat stopped. perf_counter goes on counting
while a process is stopped (ctrl+z, SIGTSTP), and a run stopped for 5 s then read 34.6 tokens/s against 120.
The command layer (signals.count_stops) adds each stop's length when the process continues."""

from __future__ import annotations

import time

_stopped = 0.0


def now() -> float:
    return time.perf_counter() - _stopped


def add_stopped(seconds: float) -> None:
    global _stopped
    _stopped += max(0.0, seconds)
