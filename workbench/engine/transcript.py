"""Everything one run produced, gathered from its events: the tokens, the stats, how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .events import DoneEvent, Event, NoticeEvent, SettingsEvent, StepEvent, TokenEvent
from .stats import Stats


@dataclass
class Transcript:
    tokens: list[TokenEvent] = field(default_factory=list)
    steps: list[StepEvent] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    notices: list[str] = field(default_factory=list)
    settings_changes: list[SettingsEvent] = field(default_factory=list)
    done: DoneEvent | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, TokenEvent):
            self.tokens.append(event)
        elif isinstance(event, StepEvent):
            self.steps.append(event)
        elif isinstance(event, DoneEvent):
            self.done = event
        elif isinstance(event, NoticeEvent):
            self.notices.append(event.message)
        elif isinstance(event, SettingsEvent):
            self.settings_changes.append(event)
        self.stats.update(event)

    @property
    def text(self) -> str:
        return "".join(t.piece for t in self.tokens if t.emitted)

    @property
    def emitted_ids(self) -> list[int]:
        return [t.id for t in self.tokens if t.emitted]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": [t.to_json() for t in self.tokens],
            "stats": self.stats.to_json(),
            "done": {"reason": self.done.reason, "message": self.done.message} if self.done else None,
            "notices": self.notices,
        }
