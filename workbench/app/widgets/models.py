"""The models sidebar: what is loaded (key facts, compatibility), loading a pair by path, and presets."""

from __future__ import annotations

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, Select, Static

from ... import presets


class PathSuggester(Suggester):
    """Completes file system paths as they are typed (directories and .gguf files)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.startswith("embedded"):
            return "embedded" if "embedded".startswith(value) and value != "embedded" else None
        folder, _, stem = value.rpartition("/")
        base = Path(os.path.expanduser(folder or "."))
        try:
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in base.iterdir()
                           if p.name.startswith(stem) and (p.is_dir() or p.suffix == ".gguf"))
        except OSError:
            return None
        return f"{folder}/{names[0]}" if names and folder else names[0] if names else None


class ModelsPanel(VerticalScroll):
    # field styles: .sidebar-panel in workbench.tcss

    class Load(Message):
        def __init__(self, target: str, draft: str) -> None:
            super().__init__()
            self.target, self.draft = target, draft

    class ApplyPreset(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class SavePreset(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def compose(self) -> ComposeResult:
        yield Label("target model")
        yield Input(placeholder="path/to/target.gguf", suggester=PathSuggester(), id="target-path")
        yield Label("draft model (optional)")
        yield Input(placeholder="path/to/draft.gguf", suggester=PathSuggester(), id="draft-path")
        yield Button("Load", id="load", variant="primary")
        yield Static("no model loaded", id="facts", classes="facts")
        yield Label("preset")
        yield Select([(n, n) for n in presets.names()], prompt="choose a preset", id="preset")
        yield Button("Apply preset", id="apply-preset")
        yield Label("save settings as preset")
        yield Input(placeholder="name", id="preset-name")
        yield Button("Save preset", id="save-preset")

    def show_paths(self, target: str, draft: str) -> None:
        self.query_one("#target-path", Input).value = target
        self.query_one("#draft-path", Input).value = draft

    def show_facts(self, text: str) -> None:
        self.query_one("#facts", Static).update(text)

    def refresh_presets(self) -> None:
        self.query_one("#preset", Select).set_options([(n, n) for n in presets.names()])

    @on(Button.Pressed, "#load")
    @on(Input.Submitted, "#target-path, #draft-path")
    def _load(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Load(self.query_one("#target-path", Input).value.strip(),
                                    self.query_one("#draft-path", Input).value.strip()))

    @on(Button.Pressed, "#apply-preset")
    def _apply(self) -> None:
        value = self.query_one("#preset", Select).value
        if isinstance(value, str):
            self.post_message(self.ApplyPreset(value))
        else:
            self.app.notify("choose a preset first", severity="warning")

    @on(Button.Pressed, "#save-preset")
    @on(Input.Submitted, "#preset-name")
    def _save(self, event: Message) -> None:
        event.stop()
        self.post_message(self.SavePreset(self.query_one("#preset-name", Input).value.strip()))
