"""The system panel (psutil): CPU, this process's memory and threads, the machine's memory. Once a second."""

from __future__ import annotations

import os

import psutil

from .livetext import LiveText


class SystemPanel(LiveText):
    DEFAULT_CSS = "SystemPanel { padding: 1 1; height: 9; }"

    def on_mount(self) -> None:
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # the first reading is meaningless; prime it
        self.sample()
        self.set_interval(1.0, self.sample)

    def on_show(self) -> None:
        self.sample()

    def sample(self) -> None:
        if not self.is_on_screen:  # its tab is not shown: nothing to measure for
            return
        p = self._process
        with p.oneshot():
            rss = p.memory_info().rss
            threads = p.num_threads()
            proc_cpu = p.cpu_percent(None)
        mem = psutil.virtual_memory()
        self.set(
            f"CPU (system)  {psutil.cpu_percent(None):5.1f} %\n"
            f"CPU (this)    {proc_cpu:5.1f} %\n"
            f"cores         {psutil.cpu_count(logical=False)} physical / {psutil.cpu_count()} logical\n"
            f"process RSS   {rss / 2**20:7.0f} MiB\n"
            f"threads       {threads}\n"
            f"memory used   {mem.used / 2**30:5.1f} / {mem.total / 2**30:.1f} GiB ({mem.percent:.0f} %)\n"
            f"available     {mem.available / 2**30:5.1f} GiB"
        )
