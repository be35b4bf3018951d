"""The controls sidebar: every live setting, changed by keyboard (arrows or +/-) or by typing a value.

A value is applied through the app (which validates it and hands it to the engine's LiveSettings) when
the user steps it, presses Enter, or leaves the field; a refused value puts the field back and says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static

from ...engine.settings import SPECS, Settings, Spec, in_use, parse_number

if TYPE_CHECKING:
    from ...engine.gguf_info import ModelInfo

COALESCE = 0.1  # seconds: stepped values reach the engine at most this often

# From the settings table (engine/settings.py), in its order: a choice is a Select, a stepped number a field.
CHOICES: dict[str, Spec] = {name: s for name, s in SPECS.items() if s.sidebar and s.choices}
FIELDS: dict[str, Spec] = {name: s for name, s in SPECS.items() if s.sidebar and s.step}
TEXTS: dict[str, Spec] = {name: s for name, s in SPECS.items() if s.sidebar and s.kind is str and not s.choices}


def fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if decimals else str(int(value))


class SettingInput(Input):
    """A number field that also steps with up/down. Typing is plain typing ('-' and '.' are characters, not
    keys); the value is checked when it is applied, so a half-typed number is refused with a message."""

    class Stepped(Message):
        def __init__(self, field: SettingInput, delta: int) -> None:
            super().__init__()
            self.field, self.delta = field, delta

    async def _on_key(self, event) -> None:  # noqa: ANN001 (textual.events.Key)
        delta = {"up": 1, "down": -1}.get(event.key)
        if delta is not None:
            event.prevent_default()
            event.stop()
            self.post_message(self.Stepped(self, delta))
            return
        await super()._on_key(event)


class ControlsPanel(VerticalScroll):
    # the look of sidebar fields is shared with the models panel: see .sidebar-panel in workbench.tcss

    class Apply(Message):
        """The user asks for a setting value (the app validates and answers by calling show())."""

        def __init__(self, name: str, value: str | float) -> None:
            super().__init__()
            self.name, self.value = name, value

    def __init__(self, initial: Settings, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._initial = initial
        self._pending: dict[str, float | int] = {}  # stepped values not yet handed to the screen
        self._flush_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        for name, spec in SPECS.items():  # in the table's order
            if name in CHOICES:
                yield Label(spec.label)
                yield Select([(c, c) for c in spec.choices], value=getattr(self._initial, name), allow_blank=False,
                             id=name)
            elif name in FIELDS:
                yield Label(spec.label, id=f"{name}-label")
                yield SettingInput(id=name, select_on_focus=True)
                if name == "experts":
                    yield Static("", id="experts-reason")
            elif name in TEXTS:  # the chain: names, typed as llama.cpp's --spec-type takes them
                yield Label(spec.label, id=f"{name}-label")
                yield Input(value=str(getattr(self._initial, name)), id=name, select_on_focus=True)

    def show(self, settings: Settings, n_predict: int, force: str = "") -> None:
        """Put the values in force into the fields: all but the one being typed in, unless it is `force`.
        Only the parameters of the drafters in use are shown."""
        for name, spec in (FIELDS | TEXTS).items():
            shown_now = in_use(spec, settings)
            for widget in (self.query_one(f"#{name}-label"), self.query_one(f"#{name}")):
                if widget.display != shown_now:
                    widget.display = shown_now
        for name in TEXTS:
            field = self.query_one(f"#{name}", Input)
            if (not field.has_focus or name == force) and field.value != getattr(settings, name):
                field.value = getattr(settings, name)
        for name, spec in FIELDS.items():
            field = self.query_one(f"#{name}", SettingInput)
            value = n_predict if name == "n_predict" else getattr(settings, name)
            shown = fmt(value, spec.decimals)
            if name in self._pending and name != force:
                continue  # the user is stepping it: their newest value is on screen and on its way
            if (not field.has_focus or field.value == "" or name == force) and field.value != shown:
                field.value = shown
        for name in CHOICES:
            select = self.query_one(f"#{name}", Select)
            if select.value != getattr(settings, name):
                with select.prevent(Select.Changed):  # showing a value is not the user choosing it
                    select.value = getattr(settings, name)

    def show_experts(self, info: ModelInfo | None) -> None:
        """The expert-count field is for MoE targets only; say why when it is off."""
        if info is None:
            enabled, reason = False, "no model loaded"
        elif info.is_moe:
            enabled = True
            reason = f"MoE: {info.expert_count} experts, {info.expert_used_count} used by default (0 = default)"
        else:
            enabled, reason = False, f"not MoE ({info.arch} is dense): nothing to change"
        self.query_one("#experts", SettingInput).disabled = not enabled
        self.query_one("#experts-reason", Static).update(reason)

    @on(SettingInput.Stepped)
    def _stepped(self, event: SettingInput.Stepped) -> None:
        name = event.field.id or ""
        spec = FIELDS[name]
        try:
            current = parse_number(event.field.value, float)
        except ValueError:  # half-typed: let the screen refuse it with its message
            self.post_message(self.Apply(name, event.field.value))
            return
        value = round(current + event.delta * spec.step, 6)
        event.field.value = fmt(value, spec.decimals)  # shown at once
        # Coalesced: held or hammered keys hand the newest value on at most every COALESCE seconds, so the
        # UI never queues up work behind a burst of keys (the last value wins).
        self._pending[name] = value if spec.decimals else int(value)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(COALESCE, self._flush)

    def _flush(self) -> None:
        pending, self._pending, self._flush_timer = self._pending, {}, None
        for name, value in pending.items():
            self.post_message(self.Apply(name, value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Apply(event.input.id or "", event.value))

    @on(Input.Blurred)
    def _blurred(self, event: Input.Blurred) -> None:
        self.post_message(self.Apply(event.input.id or "", event.value))

    @on(Select.Changed)
    def _selected(self, event: Select.Changed) -> None:
        if event.value != event.select.value:
            return  # stale: a Select reports its first value after mounting, when the screen has already set it
        self.post_message(self.Apply(event.select.id or "", str(event.value)))
