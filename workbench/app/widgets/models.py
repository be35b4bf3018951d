"""The models sidebar: what is loaded (key facts, compatibility), loading a pair by path, and presets."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ... import presets
from ..messages import EngineLoaded, LoadFailed

if TYPE_CHECKING:
    from textual.screen import Screen

    from ...engine.models import LoadOptions
    from ...engine.session import Engine


def _load(screen: Screen, target: str, draft: str, options: LoadOptions, autostart: bool) -> None:
    from ...defaults import resolve_model
    from ...engine.errors import WorkbenchError
    from ...engine.session import Engine

    try:
        engine = Engine.load(resolve_model(target), resolve_model(draft) if draft else None, options)
    except WorkbenchError as e:
        screen.post_message(LoadFailed(str(e)))
    except Exception as e:  # noqa: BLE001 (unforeseen: shown as one line, the app keeps its pair)
        screen.post_message(LoadFailed(f"{type(e).__name__}: {e}"))
    else:
        screen.post_message(EngineLoaded(engine, target, draft, autostart))


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
        def __init__(self, target: str, draft: str, cross_vocab: bool = False) -> None:
            super().__init__()
            self.target, self.draft, self.cross_vocab = target, draft, cross_vocab

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
        # what llama.cpp refuses: a draft with another vocabulary, its drafts re-tokenised (drafters/cross_vocab.py)
        yield Checkbox("cross-vocab draft", id="cross-vocab",
                       tooltip="draft with a model of another vocabulary: each draft is turned into text and "
                               "re-tokenised for the target (a tokenisation per step; greedy output stays the "
                               "target's own)")
        yield Static("for a draft llama.cpp would refuse: each draft is re-tokenised (a tokenisation a step)",
                     classes="hint")
        yield Button("Load", id="load", variant="primary")
        yield Static("no model loaded", id="facts", classes="facts")
        yield Label("preset")
        yield Select([(n, n) for n in presets.names()], prompt="choose a preset", id="preset")
        yield Button("Apply preset", id="apply-preset")
        yield Label("save settings as preset")
        yield Input(placeholder="name", id="preset-name")
        yield Button("Save preset", id="save-preset")

    def show_paths(self, target: str, draft: str, cross_vocab: bool = False) -> None:
        self.query_one("#target-path", Input).value = target
        self.query_one("#draft-path", Input).value = draft
        self.query_one("#cross-vocab", Checkbox).value = cross_vocab

    def show_facts(self, text: str) -> None:
        self.query_one("#facts", Static).update(text)

    def load(self, target: str, draft: str, options: LoadOptions, autostart: bool = False) -> None:
        """Load a pair in a thread; the screen gets EngineLoaded or LoadFailed.

        A daemon thread, not a Textual worker: a load cannot be cut short inside llama.cpp, and the executor
        behind thread workers is joined when the app ends, so quitting during a big model's load would wait
        for all of it (docs/architecture.md; launch.run leaves such a thread behind)."""
        self.show_paths(target, draft, options.cross_vocab)
        screen = self.screen
        threading.Thread(target=_load, args=(screen, target, draft, options, autostart), name="load",
                         daemon=True).start()

    def show_engine(self, e: Engine | None, problem: str = "") -> None:
        """What is loaded (or that nothing is), and why the last load failed, if it did."""
        if e is None:
            self.show_facts("no model loaded: give a path and Load, or choose a preset"
                            + (f"\n\n[b]{problem}[/b]" if problem else ""))
            return
        lines = [f"[b]target[/b] {e.target.info.summary()}",
                 f"  {e.target.info.file_size / 2**20:.0f} MiB, context {e.target.n_ctx}"]
        if e.draft is not None:
            pair = (f"cross-vocabulary ({e.cross_vocab}): drafts are re-tokenised" if e.cross_vocab else
                    f"compatible (same vocabulary, {e.target.n_vocab} tokens)")
            lines += [f"[b]draft[/b] {e.draft.info.summary()}", f"  {e.draft.info.file_size / 2**20:.0f} MiB",
                      f"[b]pair[/b] {pair}"]
        else:
            lines.append("[b]draft[/b] none (lookup, suffix and cascade still work)")
        if e.no_speculation:
            lines.append(f"[b]note[/b] {e.no_speculation}")
        elif e.target.recurrent:
            lines.append(f"[b]note[/b] {e.target.info.arch} has a recurrent state: it is kept aside before each "
                         "verify and restored after a rejection (state= in the status line is what that costs)")
        if problem:
            lines.append(f"\n[b]last load failed[/b]: {problem}")
        self.show_facts("\n".join(lines))

    def refresh_presets(self) -> None:
        self.query_one("#preset", Select).set_options([(n, n) for n in presets.names()])

    @on(Button.Pressed, "#load")
    @on(Input.Submitted, "#target-path, #draft-path")
    def _load(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Load(self.query_one("#target-path", Input).value.strip(),
                                    self.query_one("#draft-path", Input).value.strip(),
                                    self.query_one("#cross-vocab", Checkbox).value))

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
