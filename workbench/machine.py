"""How busy the machine was while the workbench measured: other processes' share of the CPUs, the load average
and the time the hypervisor stole (where the kernel reports it). A tune or bench on a busy machine measures the
other processes as much as the configurations, so it says so and advises a rerun (bench.py)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

BUSY_SHARE = 0.15  # other processes' share of all CPUs above which the timings are not to be trusted
STEAL_SHARE = 0.05  # ... or the share of CPU time a hypervisor stole


@dataclass(frozen=True)
class Load:
    seconds: float
    cpus: int
    others: float  # other processes' share of all CPUs' time (0..1)
    steal: float | None  # share of CPU time stolen by the hypervisor (None: the kernel does not report it)
    load_average: float  # the highest 1-minute load average sampled

    @property
    def busy(self) -> bool:
        return self.others > BUSY_SHARE or (self.steal or 0.0) > STEAL_SHARE

    def line(self) -> str:
        steal = f", steal {100 * self.steal:.0f}%" if self.steal is not None else ""
        return (f"machine: other processes used {100 * self.others:.0f}% of the {self.cpus} CPUs over {self.seconds:.0f} s "
                f"(1-minute load average up to {self.load_average:.1f}{steal})")

    def warning(self) -> str | None:
        if not self.busy:
            return None
        return ("warning: the machine was busy while measuring, so these timings measure the other processes too: "
                "rerun on a quiet machine (two runs that name the same winner can be trusted)")


class LoadMonitor:
    """Started before measuring; `sample()` now and then (the load average moves slowly); `result()` at the end."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._start = time.monotonic()
        self._cpu = psutil.cpu_times()
        self._own = self._process.cpu_times()
        self._loads = [os.getloadavg()[0]]

    def sample(self) -> None:
        self._loads.append(os.getloadavg()[0])

    def result(self) -> Load:
        self.sample()
        seconds = time.monotonic() - self._start
        cpu, own = psutil.cpu_times(), self._process.cpu_times()
        delta = {f: getattr(cpu, f) - getattr(self._cpu, f) for f in cpu._fields}
        total = sum(v for f, v in delta.items() if f not in ("guest", "guest_nice")) or 1e-9  # guest is in user
        idle = delta.get("idle", 0.0) + delta.get("iowait", 0.0)
        steal = delta.get("steal")
        mine = (own.user - self._own.user) + (own.system - self._own.system)
        others = max(0.0, total - idle - (steal or 0.0) - mine) / total
        return Load(seconds, psutil.cpu_count() or 1, others, steal / total if steal is not None else None,
                    max(self._loads))
