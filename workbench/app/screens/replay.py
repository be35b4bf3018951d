"""Playing a recording back: the same run view as a live run, fed by the replay clock, with no model.
It owns its keys (space pauses, n steps one verify step, + and - change the speed, r restarts)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.binding import Binding

from ...engine.errors import WorkbenchError
from ...engine.events import Event, SettingsEvent
from ...engine.settings import LiveSettings, Settings, validate
from ..replay_clock import ReplayClock
from ..widgets.controls import ControlsPanel
from ..widgets.models import ModelsPanel
from ..widgets.stream import TokenStream
from .base import RunScreen

TICK_HZ = 20


class ReplayScreen(RunScreen):
    BINDINGS = [
        Binding("space", "pause", "Pause"),
        Binding("n", "step", "Step"),
        Binding("plus", "speed(2.0)", "Faster"),
        Binding("minus", "speed(0.5)", "Slower"),
        Binding("r", "restart", "Restart"),
        Binding("f7", "toggle_rejected", "Rejected", priority=True),
        Binding("f9", "cycle_plots", "Plots", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
        Binding("f2,f4,f5", "run", "Run", show=False),  # a live screen's keys: say why they do nothing here
    ]

    def __init__(self, header: dict[str, Any], events: list[tuple[float, Event]], speed: float = 1.0,
                 name: str = "", problem: str | None = None) -> None:
        self.header = header
        recorded = header.get("settings")
        self._recorded = {k: v for k, v in recorded.items() if k in Settings.__dataclass_fields__} \
            if isinstance(recorded, dict) else {}
        # Composed with the recorded settings, not the defaults: a Select reports its first value when it
        # mounts, after on_mount, and that report must not carry a default over the recorded value.
        super().__init__(self._recorded_settings(), str(header.get("prompt", "")))
        self.clock = ReplayClock(events, speed)
        self.replay_name = name
        self.problem = problem  # where a damaged recording stops, said once it is open

    def on_mount(self) -> None:
        super().on_mount()
        self._restore_settings()
        self.plot_data.baseline = self.header.get("baseline")  # the speedup is known only if the recording measured it
        prompt = self.view.prompt
        prompt.read_only = True
        prompt.border_title = "prompt (replay)"
        models = self.header.get("models")
        models = models if isinstance(models, dict) else {}
        self.query_one(ModelsPanel).show_facts(
            f"[b]replay[/b] {self.replay_name}\n[b]target[/b] {models.get('target')}\n[b]draft[/b] {models.get('draft')}"
            "\n\nspace pauses, n steps one verify step, + and - change the speed, r restarts")
        self.query_one(TokenStream).focus()
        self.set_interval(1 / TICK_HZ, self._tick)
        self.update_status()
        if self.problem:  # markup off: the line quotes recorded text
            self.notify(self.problem, severity="warning", timeout=10, markup=False)

    def _recorded_settings(self) -> LiveSettings:
        settings = LiveSettings()
        try:
            settings.update(**self._recorded)
        except WorkbenchError:
            pass  # a recording from another version: show its events anyway
        return settings

    def _restore_settings(self) -> None:
        self.settings = self._recorded_settings()
        self.show_settings()

    def _in_force(self, name: str, value: str | float) -> bool:
        """Whether a sidebar field asks for the value already in force: a field left without a change, a
        Select reporting the value it mounted with. The user asked for nothing, so no warning is due."""
        current = self.n_predict if name == "n_predict" else getattr(self.settings.snapshot(), name, None)
        try:
            return validate(name, value) == current
        except WorkbenchError:
            return False

    def _play(self, events: list[Event]) -> None:
        """Feed events to the view; recorded settings changes move the sidebar as they did in the run."""
        for event in events:
            if isinstance(event, SettingsEvent):
                try:
                    self.settings.update(**{k: v for k, v in event.changes.items() if k in Settings.__dataclass_fields__})
                except WorkbenchError:
                    pass
        self.view.feed(events)

    def _tick(self) -> None:
        self._play(self.clock.tick(1 / TICK_HZ))

    @property
    def running(self) -> bool:
        """Playing, or the last events not yet on screen."""
        return not self.clock.paused and not (self.clock.finished and not self.view.pending)

    def state(self) -> str:
        return "finished (r restarts)" if self.clock.finished else "paused" if self.clock.paused else "playing"

    @on(ControlsPanel.Apply)
    def _on_apply(self, message: ControlsPanel.Apply) -> None:
        if message.value == "" or self._in_force(message.name, message.value):
            self.show_settings()  # the field shows the recorded value again, if it was emptied
            return
        self.notify("this is a replay: the settings show what the recording used", severity="warning", timeout=3)
        # forced, as the live screen puts back a refused value: the field still has focus, and leaving it
        # would otherwise ask again (a second warning)
        self.query_one(ControlsPanel).show(self.settings.snapshot(), self.n_predict, force=message.name)

    def action_run(self) -> None:
        self.notify("this is a replay: no model is loaded (space pauses, n steps, r restarts)", severity="warning")

    def action_pause(self) -> None:
        paused = self.clock.toggle_pause()
        self.notify("paused (n steps)" if paused else f"playing at {self.clock.speed:g}x", timeout=2)
        self.update_status()

    def action_step(self) -> None:
        self._play(self.clock.step())
        self.view.drain()

    def action_speed(self, factor: float) -> None:
        self.notify(f"replay speed {self.clock.change_speed(factor):g}x", timeout=2)

    def action_restart(self) -> None:
        self.clock.restart()
        self.view.reset()
        self._restore_settings()
        self.update_status()
