"""The workbench app: a live token stream, plots and sidebars that steer the engine while it generates.

Threads: models load in a thread worker; generation runs in another and only appends events to a deque.
A 10 Hz timer drains the deque into the widgets, so the UI thread never waits on the model and no
`call_from_thread` happens per token. Settings go the other way through the engine's LiveSettings,
read at the start of each step. Errors a user can cause arrive as WorkbenchError and become one
notification; the app keeps its previous state.
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Markdown, Static, TabbedContent, TabPane, TextArea
from textual.worker import Worker, WorkerState

from .. import presets, transcripts
from ..engine.errors import WorkbenchError
from ..engine.events import DoneEvent, Event, NoticeEvent, SettingsEvent, StepEvent, TokenEvent
from ..engine.models import LoadOptions, default_threads
from ..engine.settings import LiveSettings, Settings, validate
from ..engine.transcript import Transcript
from ..palette import DEFAULT_THEME
from .themes import load_themes, token_styles
from .widgets.controls import ControlsPanel
from .widgets.livetext import LiveText
from .widgets.models import ModelsPanel
from .widgets.plots import PlotData, Plots
from .widgets.stream import TokenStream, legend
from .widgets.system import SystemPanel

DRAIN_HZ = 10
SWITCH_INTERVAL = 0.0005  # seconds
PLOT_HZ = 2

HELP = """\
# workbench

**Keys**

| key | action |
|---|---|
| F2 | run: generate from the prompt |
| F3 | stop at the next step |
| F4 | continue the current run |
| F5 | baseline: plain decoding on the same prompt, for the speedup |
| F6 | clear the stream |
| F7 | show or hide rejected draft tokens |
| F8 | save the transcript (also saved on exit) |
| F9 | plots: next page / hide |
| ctrl+b | show or hide the sidebar |
| ctrl+r | record the following runs (JSON lines, for `workbench replay`) |
| ctrl+t | chat template on or off (raw completion) |
| space / n / + / - | in a replay: pause, step one verify step, faster, slower |
| ctrl+p | command palette (actions, themes) |
| ctrl+q | quit |

In the controls, focus a field and use **up/down** or **+/-**, or type a value and press Enter.
A change applies at the next verify step while generation continues; the stream marks it ‹like this›.

**Legend**: the target's own tokens in the plain colour; accepted drafts in their source's colour
(draft model, prompt lookup, suffix cache); rejected drafts dim and struck through where they were
proposed; the target's correction or bonus token underlined, where each verify step ended.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen Markdown { width: 90%; max-width: 100; height: 90%; border: round $primary; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        yield Markdown(HELP)


class ExpertsScreen(ModalScreen[None]):
    """The expert-count table (workbench experts) for the loaded MoE target."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    ExpertsScreen { align: center middle; }
    ExpertsScreen Static { width: auto; max-width: 100%; height: auto; border: round $primary;
                           background: $surface; padding: 1 2; }
    """

    def __init__(self, table: Any) -> None:
        super().__init__()
        self._table = table

    def compose(self) -> ComposeResult:
        yield Static(self._table)


def app_threads() -> int:
    """llama.cpp threads for the app: one core fewer than the machine has, when it has more than one.
    llama.cpp's threads meet at a barrier after every operation, so one of them preempted by the UI
    thread stalls them all (measured on 2 cores: the app at 0.6x of headless with both cores for
    llama.cpp, 0.99x with one); a core for the UI costs less than it saves."""
    return max(1, default_threads() - 1)


def describe(changes: dict[str, Any]) -> str:
    short = {"draft_max": "K", "adaptive": "adaptive", "temperature": "T", "top_k": "top-k", "top_p": "top-p", "p_min": "p_min",
             "ngram": "ngram", "seed": "seed", "drafter": "drafter", "experts": "experts", "cascade_min": "min"}
    return " ".join(f"{short.get(k, k)}={v}" for k, v in changes.items())


class WorkbenchApp(App[None]):
    CSS_PATH = "workbench.tcss"
    TITLE = "workbench"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("f2", "run", "Run"),
        Binding("f3", "stop", "Stop"),
        Binding("f4", "continue", "Continue"),
        Binding("f5", "baseline", "Baseline"),
        Binding("f6", "clear", "Clear"),
        Binding("f7", "toggle_rejected", "Rejected"),
        Binding("f8", "save", "Save"),
        Binding("f9", "cycle_plots", "Plots"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
        Binding("ctrl+r", "record", "Record", show=False),
        Binding("ctrl+t", "toggle_chat", "Chat/raw", show=False),
        Binding("space", "replay_pause", "Pause", show=False),
        Binding("n", "replay_step", "Step", show=False),
        Binding("plus", "replay_speed(2.0)", "Faster", show=False),
        Binding("minus", "replay_speed(0.5)", "Slower", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, target: str | None = None, draft: str | None = None, settings: Settings | None = None,
                 *, preset: str | None = None, theme: str | None = None, prompt: str = "", n_predict: int = 256,
                 chat: bool = True, autostart: bool = False, load_options: Any = None,
                 transcripts_dir: Path | None = None, record: str | None = None,
                 replay: tuple[dict[str, Any], list[tuple[float, Event]]] | None = None, replay_speed: float = 1.0,
                 replay_name: str = "", results: tuple[dict[str, Any], str] | None = None) -> None:
        super().__init__()
        self.results = results
        self.record_path = record
        self.recorder: Any = None
        self.replay = replay
        self.replay_speed = replay_speed
        self.replay_name = replay_name
        self._replay_pos = 0
        self._replay_clock = 0.0  # recording time played so far
        self._replay_paused = False
        self.settings = LiveSettings(settings or Settings(drafter="lookup"))
        self.engine = None  # engine.session.Engine once loaded
        self.session = None
        self.transcript = Transcript()
        self.plot_data = PlotData()
        self.n_predict = n_predict
        self.chat = chat
        self.load_options = load_options or LoadOptions(n_threads=app_threads())
        self.transcripts_dir = transcripts_dir
        self.model_paths = ("", "")
        self.running = False
        self.saved_path: Path | None = None
        self.prompt_text = ""  # the prompt of the run on screen, for its transcript
        self._unsaved = False
        self._inbox: deque[Event] = deque()
        self._plotted = -1
        self._plot_ticks = 0
        self._plot_page = 0
        self._initial = dict(target=target, draft=draft, preset=preset, prompt=prompt, autostart=autostart)
        for t in load_themes():
            self.register_theme(t)
        self.theme = theme if theme in self.available_themes else DEFAULT_THEME
        self.styles_map = token_styles(self._theme_variables())

    # --- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with TabbedContent(id="sidebar"):
                with TabPane("Controls", id="tab-controls"):
                    yield ControlsPanel(self.settings.snapshot(), id="controls", classes="sidebar-panel")
                with TabPane("Models", id="tab-models"):
                    yield ModelsPanel(id="models", classes="sidebar-panel")
                with TabPane("System", id="tab-system"):
                    yield SystemPanel(id="system")
            with Vertical(id="center"):
                yield Static(id="legend")
                yield TokenStream(id="stream")
                yield TextArea(self._initial["prompt"], id="prompt", soft_wrap=True, show_line_numbers=False)
                yield Plots(id="plots")
        yield LiveText(id="status")
        yield Footer()

    def on_mount(self) -> None:
        # Held, not queried, by the timers: a tick may land while the screen is being torn down.
        self._stream = self.query_one(TokenStream)
        self._plots = self.query_one(Plots)
        self._status = self.query_one("#status", LiveText)
        prompt = self.query_one("#prompt", TextArea)
        prompt.border_title = "prompt (F2 run)"
        # A blinking cursor repaints twice a second for nothing; on a small machine that is CPU llama.cpp wants.
        prompt.cursor_blink = False
        for field in self.query(Input):
            field.cursor_blink = False
        self.theme_changed_signal.subscribe(self, lambda _theme: self._apply_theme())
        self._apply_theme()
        self._show_settings()
        self._show_models()
        self.set_interval(1 / DRAIN_HZ, self._drain)
        self.set_interval(1 / PLOT_HZ, self._replot)
        self._update_status()
        init = self._initial
        if self.results is not None:
            from .results import ResultsScreen

            self.push_screen(ResultsScreen(*self.results))
        if self.replay is not None:
            self._start_replay()
            return
        if init["preset"]:
            self.apply_preset(init["preset"], autostart=init["autostart"])
        elif init["target"]:
            self.load_models(init["target"], init["draft"] or "", autostart=init["autostart"])

    def _theme_variables(self) -> dict[str, str]:
        fallback = next(t for t in load_themes() if t.name == DEFAULT_THEME).variables
        return {**fallback, **self.current_theme.variables}

    def _apply_theme(self) -> None:
        self.styles_map = token_styles(self._theme_variables())
        stream = self.query_one(TokenStream)
        stream.styles_map = self.styles_map
        stream.restyle()
        self.query_one("#legend", Static).update(Text.assemble(*legend(self.styles_map)))

    # --- settings ---------------------------------------------------------------------------
    def _show_settings(self) -> None:
        self.query_one(ControlsPanel).show(self.settings.snapshot(), self.n_predict)

    def apply_setting(self, name: str, value: Any) -> bool:
        """Validate one value and hand it to the engine; a refusal is one notification. True if applied."""
        try:
            if name == "n_predict":
                n = int(float(value))
                if not 1 <= n <= 100_000:
                    raise WorkbenchError(f"tokens per run must be from 1 to 100000, not {value}")
                self.n_predict = n
            else:
                clean = validate(name, value)
                if name == "experts" and self.engine is not None:
                    self.engine.check_experts(clean)
                if name == "drafter" and self.engine is not None and (why := self.engine.available(clean)):
                    raise WorkbenchError(why)
                snapshot = self.settings.snapshot()
                if getattr(snapshot, name) != clean:
                    self.settings.update(**{name: clean})
                    if name == "draft_max" and snapshot.adaptive != "off":
                        self.settings.update(adaptive="off")  # a K set by hand overrides the adaptive choice
                        self.notify(f"K={clean} set by hand: adaptive K is off", timeout=3)
        except (WorkbenchError, ValueError) as e:
            self.notify(str(e), severity="error", timeout=4)
            self.query_one(ControlsPanel).show(self.settings.snapshot(), self.n_predict, force=name)
            return False
        self._show_settings()
        self._update_status()
        return True

    @on(ControlsPanel.Apply)
    def _on_apply(self, message: ControlsPanel.Apply) -> None:
        if message.value == "":
            self._show_settings()  # an emptied field just goes back to the value in force
            return
        self.apply_setting(message.name, message.value)

    # --- models and presets -----------------------------------------------------------------
    def load_models(self, target: str, draft: str = "", autostart: bool = False) -> None:
        if not target:
            self.notify("give a target model path (or 'embedded')", severity="error")
            return
        if self.running:
            self.notify("stop the run (F3) before loading models", severity="warning")
            return
        self.query_one(ModelsPanel).show_paths(target, draft)
        self.query_one("#facts").loading = True
        self._load_worker(target, draft, autostart)

    @work(thread=True, exclusive=True, group="load", name="load", exit_on_error=False)
    def _load_worker(self, target: str, draft: str, autostart: bool) -> tuple[Any, str, str, bool]:
        from ..defaults import resolve_model
        from ..engine.session import Engine

        t = resolve_model(target)
        d = resolve_model(draft) if draft else None
        return Engine.load(t, d, self.load_options), target, draft, autostart

    def _install_engine(self, engine: Any, target: str, draft: str, autostart: bool) -> None:
        old, self.engine = self.engine, engine
        self.session = None
        if old is not None:
            old.close()
        self.model_paths = (target, draft)
        snapshot = self.settings.snapshot()
        if snapshot.drafter == "draft" and engine.draft is None:
            self.settings.update(drafter="lookup")
        if snapshot.experts and not engine.target.info.is_moe:
            self.settings.update(experts=0)
        self._show_models()
        self._show_settings()
        for warning in engine.warnings:
            self.notify(warning, severity="warning", timeout=10)
        self.notify(f"loaded {engine.target.info.name}" + (f" + draft {engine.draft.info.name}" if engine.draft else ""))
        if autostart:
            self.action_run()

    def _show_models(self, problem: str = "") -> None:
        panel = self.query_one(ModelsPanel)
        controls = self.query_one(ControlsPanel)
        e = self.engine
        if e is None:
            panel.show_facts(("no model loaded: give a path and Load, or choose a preset" + (f"\n\n[b]{problem}[/b]" if problem else "")))
            controls.set_experts(False, "no model loaded")
            return
        lines = [f"[b]target[/b] {e.target.info.summary()}", f"  {e.target.info.file_size / 2**20:.0f} MiB, context {e.target.n_ctx}"]
        if e.draft is not None:
            lines += [f"[b]draft[/b] {e.draft.info.summary()}", f"  {e.draft.info.file_size / 2**20:.0f} MiB",
                      f"[b]pair[/b] compatible (same vocabulary, {e.target.n_vocab} tokens)"]
        else:
            lines.append("[b]draft[/b] none (lookup, suffix and cascade still work)")
        if e.no_speculation:
            lines.append(f"[b]note[/b] {e.no_speculation}")
        if problem:
            lines.append(f"\n[b]last load failed[/b]: {problem}")
        panel.show_facts("\n".join(lines))
        info = e.target.info
        if info.is_moe:
            controls.set_experts(True, f"MoE: {info.expert_count} experts, {info.expert_used_count} used by default (0 = default)")
        else:
            controls.set_experts(False, f"not MoE ({info.arch} is dense): nothing to change")

    @on(ModelsPanel.Load)
    def _on_load(self, message: ModelsPanel.Load) -> None:
        self.load_models(message.target, message.draft)

    @on(ModelsPanel.ApplyPreset)
    def _on_preset(self, message: ModelsPanel.ApplyPreset) -> None:
        self.apply_preset(message.name)

    def apply_preset(self, name: str, autostart: bool = False) -> None:
        try:
            preset = presets.load(name)
            changes = dict(preset.settings)
            if self.engine is not None and "experts" in changes and not preset.target:
                self.engine.check_experts(changes["experts"])
            self.settings.update(**changes)
        except WorkbenchError as e:
            self.notify(str(e), severity="error")
            return
        self._show_settings()
        self._update_status()
        self.notify(f"preset {preset.name}: {preset.description}" if preset.description else f"preset {preset.name}")
        if preset.target:
            self.load_models(preset.target, preset.draft or "", autostart=autostart)
        elif autostart:
            self.action_run()

    @on(ModelsPanel.SavePreset)
    def _on_save_preset(self, message: ModelsPanel.SavePreset) -> None:
        try:
            path = presets.save(message.name, self.settings.snapshot(), self.model_paths[0] or None,
                                self.model_paths[1] or None)
        except (WorkbenchError, OSError) as e:
            self.notify(str(e), severity="error")
            return
        self.query_one(ModelsPanel).refresh_presets()
        self.notify(f"saved preset {message.name} to {path}")

    # --- runs -------------------------------------------------------------------------------
    def _can_start(self) -> bool:
        if self.replay is not None:
            self.notify("this is a replay: no model is loaded (space pauses, n steps)", severity="warning")
            return False
        if self.engine is None:
            self.notify("load a model first (Models tab)", severity="warning")
            return False
        if self.running:
            self.notify("a run is going on: stop it first (F3)", severity="warning")
            return False
        return True

    def _prompt_for_run(self) -> str | None:
        """The prompt to run, or None (and a notification) when there is none or a run cannot start."""
        prompt = self.query_one("#prompt", TextArea).text
        if not prompt.strip():
            self.notify("write a prompt first", severity="warning")
            return None
        return prompt if self._can_start() else None

    def action_run(self) -> None:
        prompt = self._prompt_for_run()
        if prompt is None:
            return
        try:
            text = self.engine.target.chat_prompt(prompt) if self.chat else prompt
            self.session = self.engine.session(text, self.settings)
        except WorkbenchError as e:
            self.notify(str(e), severity="error")
            return
        self._reset_view()
        self.prompt_text = prompt
        if self.record_path and self.recorder is None:
            self._open_recorder(self.record_path)
        self._start(self.n_predict)

    def action_continue(self) -> None:
        if self.session is None:
            self.action_run()
            return
        if self._can_start():
            self.query_one(TokenStream).add_marker("continue")
            self._start(self.n_predict)

    def action_stop(self) -> None:
        if self.session is not None and self.running:
            self.session.stop()

    def action_clear(self) -> None:
        self.action_stop()
        if not self.running:
            self.session = None
        self._reset_view()
        self._update_status()

    def _reset_view(self) -> None:
        self._save_if_unsaved()
        self.transcript = Transcript()
        baseline = self.plot_data.baseline
        self.plot_data.clear()
        self.plot_data.baseline = baseline
        self.query_one(TokenStream).clear()
        self.saved_path = None

    def _start(self, n_predict: int) -> None:
        # The generation thread needs the GIL for a moment between llama.cpp calls; when the UI thread is
        # painting it would wait up to the default 5 ms switch interval each time. Hand it over sooner.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.running = True
        self._unsaved = True
        self._update_status()
        self._generate(self.session, n_predict)

    @work(thread=True, group="engine", name="generate", exit_on_error=False)
    def _generate(self, session: Any, n_predict: int) -> None:
        try:
            for event in session.run(n_predict):
                if self.recorder is not None:
                    self.recorder.add(event)
                self._inbox.append(event)
        except WorkbenchError as e:
            self._inbox.append(NoticeEvent(str(e)))
            self._inbox.append(DoneEvent("error", str(e)))

    def action_baseline(self) -> None:
        prompt = self._prompt_for_run()
        if prompt is None:
            return
        self.running = True
        self.notify("measuring plain decoding on this prompt...")
        self._update_status()
        self._baseline(prompt)

    @work(thread=True, group="engine", name="baseline", exit_on_error=False)
    def _baseline(self, prompt: str) -> float:
        text = self.engine.target.chat_prompt(prompt) if self.chat else prompt
        s = self.settings.snapshot()
        t = self.engine.generate(text, min(self.n_predict, 128), drafter="none", temperature=s.temperature,
                                 top_k=s.top_k, top_p=s.top_p, seed=s.seed)
        return t.stats.tokens_per_second

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where worker results and errors reach the user."""
        worker, state = event.worker, event.state
        if state == WorkerState.SUCCESS:
            if worker.name == "load":
                self.query_one("#facts").loading = False
                self._install_engine(*worker.result)
            elif worker.name == "baseline":
                self.running = False
                self.plot_data.baseline = worker.result
                self.plot_data.version += 1
                self.notify(f"plain decoding: {worker.result:.1f} tokens/s")
                self._update_status()
            elif worker.name == "experts":
                self.running = False
                self._update_status()
                self.push_screen(ExpertsScreen(worker.result))
            elif worker.name == "generate":
                self._drain()
                self.running = False
                self._update_status()
        elif state == WorkerState.ERROR:
            error = worker.error
            message = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
            if worker.name == "load":
                self.query_one("#facts").loading = False
                self._show_models(problem=message)
            else:
                self.running = False
                self._update_status()
            self.notify(message, severity="error", timeout=6)

    # --- the event drain --------------------------------------------------------------------
    def _drain(self) -> None:
        if not self._inbox:
            return
        stream = self._stream
        data = self.plot_data
        tokens: list[TokenEvent] = []
        while self._inbox:
            event = self._inbox.popleft()
            self.transcript.add(event)
            if isinstance(event, TokenEvent):
                tokens.append(event)
                continue
            if tokens:
                stream.add_tokens(tokens)
                tokens = []
            if isinstance(event, StepEvent):
                window = self.transcript.stats.rolling()
                if event.drafted:
                    data.acceptance.append((event.step, 100 * window.acceptance))
                    data.lengths[event.accepted] += 1
                data.rate.append((round(event.time, 3), window.tokens_per_second))
                data.positions = self.transcript.stats.position_acceptance
                data.version += 1
            elif isinstance(event, SettingsEvent):
                stream.add_marker(describe(event.changes))
                data.marks.append(event.step)
                data.time_marks.append(data.rate[-1][0] if data.rate else 0.0)
                self._show_settings()
            elif isinstance(event, NoticeEvent):
                self.notify(event.message, severity="warning", timeout=5)
            elif isinstance(event, DoneEvent):
                if event.reason in ("stopped", "context_full", "eos", "error"):
                    stream.add_marker(event.message)
                if event.reason == "context_full":
                    self.notify(event.message, severity="warning")
        if tokens:
            stream.add_tokens(tokens)
        self._update_status()

    def _replot(self) -> None:
        plots = self._plots
        self._plot_ticks += 1
        if self.running and self._plot_ticks % 2:  # 1 Hz while generating: each redraw costs llama.cpp CPU
            return
        if self.plot_data.version != self._plotted and plots.display:
            self._plotted = self.plot_data.version
            plots.replot(self.plot_data)

    def status_line(self) -> str:
        """The fixed, greppable status: K=<k> T=<temp> drafter=<name> acc=<pct>% tok/s=<rate> ..."""
        s = self.settings.snapshot()
        stats = self.transcript.stats
        k = f"auto<={s.draft_max}" if s.adaptive == "auto" else f"heuristic<={s.draft_max}" if s.adaptive == "heuristic" else s.draft_max
        parts = [f"K={k}", f"T={s.temperature:.2f}", f"drafter={s.drafter}",
                 f"acc={100 * stats.acceptance:.1f}%", f"tok/s={stats.tokens_per_second:.1f}"]
        if s.drafter in ("lookup", "cascade"):
            parts.append(f"ngram={s.ngram}")
        if self.engine is not None and self.engine.target.info.is_moe:
            parts.append(f"experts={s.experts or self.engine.target.info.expert_used_count}")
        if self.plot_data.baseline:
            parts.append(f"plain={self.plot_data.baseline:.1f} speedup={stats.tokens_per_second / self.plot_data.baseline:.2f}x")
        parts.append(f"tokens={stats.n_emitted}")
        parts.append("running" if self.running else "idle")
        return " ".join(parts)

    def _update_status(self) -> None:
        self._status.set(self.status_line())

    # --- view toggles, saving, quitting -----------------------------------------------------
    def action_toggle_rejected(self) -> None:
        stream = self.query_one(TokenStream)
        stream.set_show_rejected(not stream.show_rejected)
        self.notify("rejected drafts " + ("shown" if stream.show_rejected else "hidden"), timeout=2)

    def action_cycle_plots(self) -> None:
        plots = self.query_one(Plots)
        self._plot_page = (self._plot_page + 1) % 3
        plots.display = self._plot_page != 2
        plots.set_class(self._plot_page == 1, "-page2")
        self._plotted = -1

    def action_toggle_chat(self) -> None:
        self.chat = not self.chat
        self.query_one("#prompt", TextArea).border_title = "prompt (F2 run)" if self.chat else "prompt, raw completion (F2 run)"
        self.notify("the chat template is applied" if self.chat else "raw completion: no chat template", timeout=2)

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        sidebar.display = not sidebar.display

    def action_measure_experts(self) -> None:
        """Perplexity, agreement and tokens/s for every expert count of the MoE target, in a worker."""
        if self.engine is None or not self.engine.target.info.is_moe:
            self.notify("load a Mixture-of-Experts target first: the expert count does not apply", severity="warning")
            return
        if not self._can_start():
            return
        self.running = True
        self._update_status()
        self.notify("measuring every expert count on a reference text...")
        self._measure_experts(self.engine.target.info, self.engine.target.options)

    @work(thread=True, group="engine", name="experts", exit_on_error=False)
    def _measure_experts(self, info: Any, options: Any) -> Any:
        from rich.table import Table

        from ..experts import REFERENCE, measure

        base_options = LoadOptions(n_ctx=options.n_ctx, n_threads=options.n_threads, n_batch=options.n_batch)
        rows = measure(info.path, list(range(info.expert_used_count, 0, -1)), REFERENCE, base_options, 256, 32)
        table = Table(title=f"{info.name}: expert count (Esc closes)")
        for col in ("experts", "perplexity", "agreement", "tok/s", "vs default"):
            table.add_column(col, justify="right")
        base = next(r for r in rows if r.default)
        for r in rows:
            table.add_row(f"{r.experts}{' (default)' if r.default else ''}", f"{r.perplexity:.2f}",
                          f"{100 * r.agreement:.1f}%", f"{r.tokens_per_second:.1f}",
                          f"{r.tokens_per_second / base.tokens_per_second:.2f}x")
        return table

    # --- recording and replay -----------------------------------------------------------------
    def _open_recorder(self, path: str | Path) -> None:
        from ..engine.record import Recorder

        try:
            self.recorder = Recorder(path, {"prompt": self.prompt_text,
                                            "models": {"target": self.model_paths[0], "draft": self.model_paths[1]},
                                            "settings": asdict(self.settings.snapshot())})
        except WorkbenchError as e:
            self.notify(str(e), severity="error")
            return
        self.notify(f"recording to {path}")

    def action_record(self) -> None:
        """Start recording the following runs to a file in the user data dir, or stop recording."""
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
            self.notify("recording stopped")
            return
        import time as _time

        folder = transcripts.transcripts_dir().parent / "recordings"
        folder.mkdir(parents=True, exist_ok=True)
        self._open_recorder(folder / _time.strftime("session-%Y%m%d-%H%M%S.jsonl"))

    def _start_replay(self) -> None:
        header, _events = self.replay
        known = {k: v for k, v in header.get("settings", {}).items() if k in Settings.__dataclass_fields__}
        try:
            self.settings.update(**known)
        except WorkbenchError:
            pass  # a recording from another version: show its events anyway
        self._show_settings()
        prompt = self.query_one("#prompt", TextArea)
        prompt.text = str(header.get("prompt", ""))
        prompt.read_only = True
        prompt.border_title = "prompt (replay)"
        models = header.get("models", {})
        self.query_one(ModelsPanel).show_facts(
            f"[b]replay[/b] {self.replay_name}\n[b]target[/b] {models.get('target')}\n[b]draft[/b] {models.get('draft')}\n\n"
            "space pauses, n steps one verify step, + and - change the speed")
        self.running = True
        self.query_one(TokenStream).focus()
        self.set_interval(1 / 20, self._replay_tick)

    def _replay_tick(self) -> None:
        if self._replay_paused or self.replay is None:
            return
        self._replay_clock += self.replay_speed / 20
        self._replay_until(lambda t, _e: t <= self._replay_clock)

    def _replay_until(self, due: Any) -> None:
        events = self.replay[1]
        while self._replay_pos < len(events) and due(*events[self._replay_pos]):
            t, event = events[self._replay_pos]
            self._replay_pos += 1
            self._replay_clock = max(self._replay_clock, t)
            self._inbox.append(event)
            if isinstance(event, StepEvent) and due is self._one_step:
                break
        if self._replay_pos >= len(events) and self.running:
            self.running = False
            self._drain()
            self._update_status()

    @staticmethod
    def _one_step(_t: float, _event: Event) -> bool:
        return True

    def action_replay_pause(self) -> None:
        if self.replay is not None:
            self._replay_paused = not self._replay_paused
            self.notify("paused (n steps)" if self._replay_paused else f"playing at {self.replay_speed:g}x", timeout=2)

    def action_replay_step(self) -> None:
        if self.replay is not None:
            self._replay_paused = True
            self._replay_until(self._one_step)
            self._drain()

    def action_replay_speed(self, factor: float) -> None:
        if self.replay is not None:
            self.replay_speed = min(100.0, max(0.05, self.replay_speed * factor))
            self.notify(f"replay speed {self.replay_speed:g}x", timeout=2)

    def action_open_results(self) -> None:
        """Ask for a results file path and show it."""
        from textual.widgets import Input as _Input

        from .results import ResultsScreen, load_results

        class Ask(ModalScreen[str]):
            DEFAULT_CSS = "Ask { align: center middle; } Ask Input { width: 70; }"

            def compose(self) -> ComposeResult:
                yield _Input(placeholder="results.json (from workbench bench --json), Enter to open, Esc to cancel")

            def on_input_submitted(self, event: _Input.Submitted) -> None:
                self.dismiss(event.value)

            def key_escape(self) -> None:
                self.dismiss("")

        def show(path: str | None) -> None:
            if not path:
                return
            try:
                self.push_screen(ResultsScreen(load_results(path), Path(path).name))
            except WorkbenchError as e:
                self.notify(str(e), severity="error")

        self.push_screen(Ask(), show)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_save(self) -> None:
        path = self._save()
        if path:
            self.notify(f"transcript saved to {path}")

    def _save(self) -> Path | None:
        if not self.transcript.tokens:
            self.notify("nothing generated yet", severity="warning")
            return None
        models = {"target": self.model_paths[0], "draft": self.model_paths[1]}
        try:  # the same run saved again overwrites its own file
            self.saved_path = transcripts.save(self.transcript, self.prompt_text,
                                               self.settings.snapshot(), models, self.transcripts_dir, self.saved_path)
        except OSError as e:
            self.notify(f"cannot save the transcript: {e}", severity="error")
            return None
        self._unsaved = False
        return self.saved_path

    def _save_if_unsaved(self) -> None:
        if self._unsaved and self.transcript.tokens:
            self._save()

    async def action_quit(self) -> None:
        if self.session is not None:
            self.session.stop()
        await self.workers.wait_for_complete()
        self._drain()
        self._save_if_unsaved()
        if self.recorder is not None:
            self.recorder.close()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.exit()

    def get_system_commands(self, screen: Screen) -> Any:
        yield from super().get_system_commands(screen)
        for name, help_text, action in (
            ("Run", "Generate from the prompt (F2)", self.action_run),
            ("Stop", "Stop at the next step (F3)", self.action_stop),
            ("Continue", "Continue the current run (F4)", self.action_continue),
            ("Baseline", "Measure plain decoding on the prompt (F5)", self.action_baseline),
            ("Clear", "Clear the stream (F6)", self.action_clear),
            ("Toggle rejected tokens", "Show or hide rejected drafts (F7)", self.action_toggle_rejected),
            ("Save transcript", "Save prompt, output, settings and stats (F8)", self.action_save),
            ("Record", "Record the following runs as JSON lines for `workbench replay` (ctrl+r)", self.action_record),
            ("Toggle chat template", "Apply the model's chat template to the prompt, or send it raw (ctrl+t)",
             self.action_toggle_chat),
            ("Open results", "Show a bench or tune results file (JSON) in the plots", self.action_open_results),
            ("Measure expert counts", "MoE target: perplexity, agreement and tokens/s per expert count",
             self.action_measure_experts),
            ("Help", "Keys and legend (F1)", self.action_help),
        ):
            yield SystemCommand(name, help_text, action)
        for theme in load_themes():
            yield SystemCommand(f"Theme: {theme.name}", "Switch the colour theme", lambda n=theme.name: setattr(self, "theme", n))
