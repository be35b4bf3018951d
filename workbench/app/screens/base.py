"""What every run screen shares: the layout (sidebar, run view, status line, footer), the view toggles,
and following the theme."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, TabbedContent, TabPane

from ...engine.settings import LiveSettings

if TYPE_CHECKING:
    from ...engine.session import Engine
from ..dialogs import HelpScreen
from ..run_view import RunView, status_line
from ..widgets.controls import ControlsPanel
from ..widgets.footer import LeanFooter
from ..widgets.livetext import LiveText
from ..widgets.models import ModelsPanel
from ..widgets.stream import TokenStream
from ..widgets.system import SystemPanel

WIDE_FOOTER = 120  # columns from which the footer has room for its spacing and the palette hint
SIDEBAR_FROM = 100  # columns from which the sidebar shows at start (narrower, ctrl+b shows it)


class RunScreen(Screen[None]):
    # Each screen lists its keys in footer order. The function keys are the app's own: priority, so that a
    # focused prompt editor (whose TextArea binds F6/F7 to selections) does not take them.
    BINDINGS: list[Binding] = []

    def __init__(self, settings: LiveSettings, prompt: str = "", n_predict: int = 256) -> None:
        super().__init__()
        self.settings = settings
        self.n_predict = n_predict
        self._prompt = prompt
        self._sized = False  # the sidebar's start-up choice is made once, at the first size

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with TabbedContent(id="sidebar"):
                with TabPane("Controls", id="tab-controls"):
                    yield ControlsPanel(self.settings.snapshot(), id="controls", classes="sidebar-panel")
                with TabPane("Models", id="tab-models"):
                    yield ModelsPanel(id="models", classes="sidebar-panel")
                with TabPane("System", id="tab-system"):
                    yield SystemPanel(id="system")
            yield RunView(self._prompt, id="center")
        yield LiveText(id="status")
        yield LeanFooter()

    def on_resize(self, event: events.Resize) -> None:
        """Below WIDE_FOOTER columns the footer is compact and leaves out the palette hint, so that every function
        key, F1 Help included, fits in 80 columns (ctrl+p still opens the palette; the help lists it)."""
        if not self._sized:  # the first size known: below SIDEBAR_FROM columns the run gets the whole width
            self._sized = True
            if event.size.width < SIDEBAR_FROM:
                self._show_sidebar(False)
        footer = self.query_one(Footer)
        narrow = event.size.width < WIDE_FOOTER
        if footer.compact != narrow:
            footer.compact = narrow
            footer.show_command_palette = not narrow
            footer.refresh(recompose=True)

    def on_mount(self) -> None:
        self.view = self.query_one(RunView)
        self.status = self.query_one("#status", LiveText)
        for field in self.query(Input):
            field.cursor_blink = False
        self.restyle()
        self.show_settings()

    def restyle(self) -> None:
        self.view.restyle(self.app.styles_map)  # type: ignore[attr-defined]  (WorkbenchApp's)

    @property
    def transcript(self):  # noqa: ANN201 (engine.transcript.Transcript)
        return self.view.transcript

    @property
    def plot_data(self):  # noqa: ANN201 (widgets.plots.PlotData)
        return self.view.plot_data

    # --- the status line: subclasses say what they know ----------------------------------------------
    running = False
    engine: Engine | None = None  # the live screen's loaded pair; a replay has none

    def experts_in_use(self) -> int | None:
        """The MoE target's experts per token, for the status line (None: not an MoE target)."""
        e = self.engine
        if e is None or not e.target.info.is_moe:
            return None
        return self.settings.snapshot().experts or e.target.info.expert_used_count

    def draft_experts_in_use(self) -> int | None:
        """The MoE draft model's experts per token (None: no draft model, or a dense one)."""
        e = self.engine
        if e is None or e.draft is None or not e.draft.info.is_moe:
            return None
        return self.settings.snapshot().draft_experts or e.draft.info.expert_used_count

    def state(self) -> str:
        if self.running and self.view.prompt_progress:  # a long prompt being processed
            done, total = self.view.prompt_progress
            return f"prompt {done}/{total}"
        return "running" if self.running else "idle"

    def status_line(self) -> str:
        return status_line(self.settings.snapshot(), self.transcript.stats, self.state(), self.plot_data.baseline,
                           self.experts_in_use(), self.draft_experts_in_use())

    def update_status(self) -> None:
        self.status.set(self.status_line())

    @on(RunView.Drained)
    def _drained(self, message: RunView.Drained) -> None:
        if message.settings_changed:
            self.show_settings()
        self.update_status()

    def show_settings(self) -> None:
        self.query_one(ControlsPanel).show(self.settings.snapshot(), self.n_predict)

    def notify_error(self, message: str) -> None:
        self.notify(message, severity="error", timeout=6)

    def on_run_view_notice(self, message: RunView.Notice) -> None:
        self.notify(message.text, severity="warning", timeout=5, markup=False)  # engine text, not markup

    # --- view toggles -------------------------------------------------------------------------
    def action_toggle_rejected(self) -> None:
        stream = self.query_one(TokenStream)
        stream.set_show_rejected(not stream.show_rejected)
        self.notify("rejected drafts " + ("shown" if stream.show_rejected else "hidden"), timeout=2)

    def action_cycle_plots(self) -> None:
        self.view.cycle_plots()
        self.set_class(self.view.plot_page == "none", "-no-plots")  # where the notifications stand (workbench.tcss)

    def action_toggle_sidebar(self) -> None:
        self._show_sidebar(not self.query_one("#sidebar").display)

    def _show_sidebar(self, shown: bool) -> None:
        """The sidebar on or off; off, the notifications move from over it to over the prompt (workbench.tcss)."""
        self.query_one("#sidebar").display = shown
        self.set_class(not shown, "-no-sidebar")
        self.query_one("#prompt").border_subtitle = "" if shown else "ctrl+b sidebar"

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    abandoned_work = False  # set by shutdown() when a worker that cannot be stopped was still running

    def keep_work(self) -> None:
        """An unforeseen error ends the app: keep what the user made, at once (no waiting, no awaiting)."""

    async def shutdown(self) -> None:
        """The app is quitting: stop what runs and keep what the user made (the live screen saves)."""
        self.view.drain()
