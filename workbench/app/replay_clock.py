"""The replay clock: which recorded events are due, at the recording's own pace times a speed factor.

Plain Python with no Textual in it (tested on its own): the replay screen ticks it from a timer and feeds
what it returns to the run view.
"""

from __future__ import annotations

from ..engine.events import Event, StepEvent

MIN_SPEED, MAX_SPEED = 0.05, 100.0


class ReplayClock:
    def __init__(self, events: list[tuple[float, Event]], speed: float = 1.0) -> None:
        self.events = events
        self.speed = speed
        self.position = 0  # events handed out so far
        self.clock = 0.0  # recording time played so far
        self.paused = False

    @property
    def finished(self) -> bool:
        return self.position >= len(self.events)

    def tick(self, seconds: float) -> list[Event]:
        """The events due after `seconds` of real time (none while paused)."""
        if self.paused:
            return []
        self.clock += self.speed * seconds
        due = []
        while not self.finished and self.events[self.position][0] <= self.clock:
            due.append(self.events[self.position][1])
            self.position += 1
        return due

    def step(self) -> list[Event]:
        """Pause, and hand out the events up to and including the next verify step."""
        self.paused = True
        due: list[Event] = []
        while not self.finished:
            t, event = self.events[self.position]
            self.position += 1
            self.clock = max(self.clock, t)
            due.append(event)
            if isinstance(event, StepEvent):
                break
        return due

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        return self.paused

    def change_speed(self, factor: float) -> float:
        self.speed = min(MAX_SPEED, max(MIN_SPEED, self.speed * factor))
        return self.speed

    def restart(self) -> None:
        self.position, self.clock, self.paused = 0, 0.0, False
