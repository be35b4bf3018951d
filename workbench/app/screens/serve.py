"""The app's server mode (`workbench serve --tui`): the traffic a client sends, live.

The screen keeps the run screen's stream, plots and sidebar (base.py, run_view.py) and adds the request log
(widgets/requests.py). The server's engine thread hands every request's start, events and end to `observe`,
which only appends to a deque; a 10 Hz timer moves them into the view, so each request streams in the usual
colours behind a marker where it begins. The sidebar edits the server's live settings: a change applies at
the next verify step of whatever request is running, and the log shows what each request ran with.

Plain decoding's rate, the speedup's reference, is measured in the engine thread between requests: once on a
built-in prompt before the first request, and again by F5 on the last request's prompt.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections import deque
from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding

from ...engine.errors import WorkbenchError
from ...engine.events import Event
from ...engine.transcript import Transcript
from ...serve.slot import Ended, Record, Started
from .. import jobs
from ..messages import BaselineMeasured
from ..widgets.controls import ControlsPanel
from ..widgets.requests import RequestLog
from .base import RunScreen
from .live import LiveScreen

if TYPE_CHECKING:
    from ...engine.session import Engine
    from ...serve.command import Server

BASELINE_TOKENS = 48
MAX_STREAM_SPANS = 200_000  # the stream keeps the latest requests; past this it starts again at a request


class ServeScreen(RunScreen):
    BINDINGS = [
        Binding("f5", "baseline", "Plain", priority=True),
        Binding("f7", "toggle_rejected", "Rejected", priority=True),
        Binding("f9", "cycle_plots", "Plots", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
    ]

    def __init__(self, server: Server, baseline_prompt: str, address: str = "") -> None:
        super().__init__(server.slot.settings)
        self.server = server
        self.address = address  # where clients reach it, for the status line
        self.engine: Engine = server.slot.engine
        self._inbox: deque[Started | Ended | Event] = deque()
        self._baseline_prompt = baseline_prompt
        self._last_prompt = baseline_prompt
        self.record: Record | None = None  # the request running
        self.measuring = False
        self.served = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.view.prompt.display = False  # the clients send the prompts
        self.query_one("#sidebar").hide_tab("tab-models")  # the server's pair is fixed while it serves
        self.requests = RequestLog(id="requests")
        self.view.mount(self.requests, before=self.view.stream)
        self.server.slot.observers.append(self.observe)
        self.set_interval(0.1, self.drain)
        self.action_baseline()
        self.update_status()

    # --- from the engine thread ---------------------------------------------------------------
    def observe(self, item: Started | Ended | Event) -> None:
        self._inbox.append(item)

    # --- on the UI thread ---------------------------------------------------------------------
    def drain(self) -> None:
        events: list[Event] = []
        while self._inbox:
            item = self._inbox.popleft()
            if not isinstance(item, Started | Ended):
                events.append(item)
                continue
            self._flush(events)
            events = []
            if isinstance(item, Started):
                self._begin(item.record)
            else:
                self._end(item.record)
        self._flush(events)
        if self.record is not None:
            self.requests.update(self.record, self.transcript.stats, self.plot_data.baseline, running=True)

    def _flush(self, events: list[Event]) -> None:
        if events:
            self.view.feed(events)
            self.view.drain()

    def _begin(self, record: Record) -> None:
        self.record = record
        self.running = True
        self.view.running = True
        stream = self.view.stream
        if len(stream.spans) > MAX_STREAM_SPANS:
            stream.clear()
        # a new transcript: the stats and plots are this request's; the stream keeps the earlier ones
        self.view.transcript = Transcript()
        baseline = self.plot_data.baseline
        self.plot_data.clear()
        self.plot_data.baseline = baseline
        stream.add_marker(f"request {record.id.split('-')[1]} ({record.endpoint}, {record.prompt_tokens} prompt tokens)")
        self.requests.begin(record, baseline)
        self.update_status()

    def _end(self, record: Record) -> None:
        self.requests.update(record, record.stats, self.plot_data.baseline, running=False)
        if record.stop_reason in ("stop", "timeout", "shutdown", "disconnected"):
            self.view.stream.add_marker(record.stop_reason)
        self._last_prompt = self.server.slot.prompt_of(record.request)
        self.record = None
        self.running = False
        self.view.running = False
        self.served += 1
        self.update_status()

    def state(self) -> str:
        if self.measuring:
            return "measuring-plain"
        queued = self.server.slot.queued
        what = f"request {self.record.id.split('-')[1]}" if self.record else "waiting"
        return f"{what} served={self.served}" + (f" queued={queued}" if queued else "") + (
            f" at {self.address}" if self.address else "")

    # --- settings and plain decoding ----------------------------------------------------------
    # the live screen's own rules: validated, checked against the pair, one notification for a refusal
    apply_setting = LiveScreen.apply_setting

    @on(ControlsPanel.Apply)
    def _on_apply(self, message: ControlsPanel.Apply) -> None:
        if message.value == "" or message.name == "n_predict":  # a request says how many tokens it wants
            self.show_settings()
            return
        self.apply_setting(message.name, message.value)

    def action_baseline(self) -> None:
        """Plain decoding on the last request's prompt (a built-in one before the first), in the engine thread
        after the requests already waiting."""
        if self.measuring:
            return
        self.measuring = True
        prompt, settings = self._last_prompt, self.settings.snapshot()

        def measure(engine: Engine) -> None:  # in the engine thread; post_message is thread-safe
            try:
                self.post_message(jobs.baseline(engine, prompt, BASELINE_TOKENS, settings))
            except WorkbenchError:
                self.post_message(BaselineMeasured(0.0))

        self.server.slot.call(measure)
        self.update_status()

    @on(BaselineMeasured)
    def _baseline_measured(self, message: BaselineMeasured) -> None:
        self.measuring = False
        if message.tokens_per_second:
            self.plot_data.baseline = message.tokens_per_second
            self.plot_data.version += 1
            self.notify(f"plain decoding measured: {message.tokens_per_second:.1f} tokens/s", timeout=3)
        else:
            self.notify("plain decoding could not be measured: speedup stays ?", severity="error")
        self.update_status()

    # --- quitting -----------------------------------------------------------------------------
    async def shutdown(self) -> None:
        """The server first (the running request ends at its next verify step, queued ones get 503), then the
        engine thread and the traffic log."""
        self.server.stop(signal.SIGTERM)
        thread = getattr(self.server, "thread", None)
        if isinstance(thread, threading.Thread):
            await asyncio.to_thread(thread.join, 60)
        await super().shutdown()
        await asyncio.to_thread(self.server.close)
