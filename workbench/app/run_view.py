"""The run view: turns engine events into the token stream, the plots and the run's transcript. Live
runs, replays and the snapshot tests all feed it the same way (`feed`), from any thread.

Threads: the producer (a generation worker, the replay clock) only appends to a deque; a 10 Hz timer
drains it into the widgets, so the UI thread never waits on the model and no `call_from_thread` happens
per token (docs/architecture.md, "Events to views"). Plots redraw at most twice a second, and only when
their data changed and they are visible.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Digits, Static, TextArea

from ..engine.events import (
    DoneEvent,
    Event,
    NoticeEvent,
    PromptEvent,
    PromptProgressEvent,
    SettingsEvent,
    StepEvent,
    TokenEvent,
)
from ..engine.gate import PAUSED
from ..engine.settings import Settings, describe, drafters_using
from ..engine.stats import Stats
from ..engine.transcript import Transcript
from .widgets.payoff import PayoffPlots
from .widgets.plots import PlotData, Plots
from .widgets.stream import TokenStream, legend

DRAIN_HZ = 10
PAGES = ("plots", "plots-2", "payoff", "payoff-2", "none")  # F9's pages (the -2 ones only on narrow screens)
PAUSED_STEPS = 8  # steps in a row without a draft, while a drafter is chosen, that the status calls a pause
PLOT_HZ = 2


def status_line(settings: Settings, stats: Stats, state: str, baseline: float | None = None,
                experts: int | None = None, draft_experts: int | None = None) -> str:
    """The fixed, greppable status, most important first so that 80 columns keep speed, speedup and state:
    tok/s=<rate> speedup=<x>x plain=<measured rate> <state> K=<k> T=<temp> drafter=<name> acc=<pct>% ...

    speedup is this run's decode rate over plain decoding measured on this machine and pair (F5, or before
    the first run); "speedup=?" until one is measured and while this run has generated nothing (as tok/s=?, and
    acc=? len=? while nothing was drafted). "draft-paused" follows the state while the last PAUSED_STEPS steps
    drafted nothing though a drafter is chosen (the notice in the stream says why). len is the mean accepted length per verify step that
    drafted, counting the target's own token (accepted / drafting steps + 1); acc is accepted / drafted,
    as llama.cpp prints it. With a chain or the cascade each member's accepted/drafted tokens follow. state= is
    what keeping and restoring a recurrent target's state costs a drafting step; xvocab= the draft model's
    tokens per target token its drafts were translated into (cross-vocabulary drafting). With an MoE draft model,
    draft-experts= its experts per token and draft= what drafting cost per drafted token."""
    s = settings
    rate = stats.tokens_per_second if stats.n_emitted else None  # None: nothing generated, nothing known
    speedup = "speedup=" + (f"{rate / baseline:.2f}x" if rate and baseline else "?")
    if baseline:
        speedup += f" plain={baseline:.1f}"
    drafted = stats.n_drafted > 0
    # the gate or adaptive K stopped drafting (not plain decoding measured on purpose: measuring-plain)
    if s.drafter != "none" and stats.plain_run >= PAUSED_STEPS and not state.startswith("measuring"):
        state += " draft-paused"
    parts = [f"tok/s={rate:.1f}" if rate else "tok/s=?", speedup, state,
             f"K={s.k_text()}", f"T={s.temperature:.2f}", f"drafter={s.drafter}",
             f"acc={100 * stats.acceptance:.1f}%" if drafted else "acc=?", f"drafted={stats.n_drafted}",
             f"accepted={stats.n_accepted}", f"len={stats.mean_accepted_length:.2f}" if drafted else "len=?"]
    if s.drafter in drafters_using("ngram"):
        parts.append(f"ngram={s.ngram}")
    if s.drafter == "chain":
        parts.append(f"chain={s.chain}")
    if experts is not None:
        parts.append(f"experts={experts}")
    if draft_experts is not None:
        parts.append(f"draft-experts={draft_experts}")
        parts.append(f"draft={1000 * stats.draft_seconds / stats.n_drafted:.1f}ms/tok" if stats.n_drafted else "draft=?")
    parts.append(f"tokens={stats.n_emitted}")
    if stats.n_state_steps:  # a recurrent target: what keeping and restoring its state costs a drafting step
        parts.append(f"state={stats.state_ms_per_step:.1f}ms")
    if stats.n_translated:  # cross-vocabulary: the draft model's tokens per translated target token
        parts.append(f"xvocab={stats.source_per_token:.2f}")
    if len(stats.drafters) > 1:  # a chain or the cascade: each member's accepted/drafted tokens
        parts.extend(f"{source.value}={d.accepted}/{d.drafted}" for source, d in stats.drafters.items())
    return " ".join(parts)


class RunView(Vertical):
    """Legend, token stream, prompt editor and plots of one run, and the transcript they show."""

    class Drained(Message):
        """Events reached the widgets (the screen refreshes its status line)."""

        def __init__(self, settings_changed: bool) -> None:
            super().__init__()
            self.settings_changed = settings_changed

    class Notice(Message):
        """Something the engine wants the user to know (a refused setting, a reload, context full)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, prompt: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._prompt = prompt
        self._inbox: deque[Event] = deque()
        self.transcript = Transcript()
        self.plot_data = PlotData()
        self.running = False  # plots redraw less often while generating
        self.prompt_progress: tuple[int, int] | None = None  # (done, total) while a long prompt is processed
        self._plotted = -1
        self._plot_ticks = 0
        self._page = "plots"  # the F9 page on show

    def compose(self) -> ComposeResult:
        # the demo's speedup, large enough to read from the back of a room (hidden unless `show_speedup`)
        yield Digits("?", id="big-speedup")
        yield Static(id="legend")
        yield TokenStream(id="stream")
        yield TextArea(self._prompt, id="prompt", soft_wrap=True, show_line_numbers=False)
        yield Plots(id="plots")
        yield PayoffPlots(id="payoff")

    def on_mount(self) -> None:
        # Held, not queried, by the timers: a tick may land while the screen is being torn down.
        self.stream = self.query_one(TokenStream)
        self.plots = self.query_one("#plots", Plots)
        self.payoff = self.query_one(PayoffPlots)
        self.payoff.display = False
        self.prompt = self.query_one("#prompt", TextArea)
        self.prompt.border_title = "prompt (F2 run)"
        # A blinking cursor repaints twice a second for nothing; on a small machine that is CPU llama.cpp wants.
        self.prompt.cursor_blink = False
        self.set_interval(1 / DRAIN_HZ, self.drain)
        self.set_interval(1 / PLOT_HZ, self._tick_plots)

    def show_speedup(self, speedup: float | None) -> None:
        """Show the big speedup (None: not known yet)."""
        big = self.query_one("#big-speedup", Digits)
        big.display = True
        big.update(f"{speedup:.2f}x" if speedup else "?")

    def restyle(self, styles: dict) -> None:
        self.stream.styles_map = styles
        self.stream.restyle()
        self.query_one("#legend", Static).update(Text.assemble(*legend(styles)))

    # --- feeding ------------------------------------------------------------------------------
    def feed(self, events: Iterable[Event]) -> None:
        """Queue events for the next drain; safe from any thread."""
        self._inbox.extend(events)

    @property
    def pending(self) -> bool:
        """Events queued but not yet drained."""
        return bool(self._inbox)

    def push(self, event: Event) -> None:
        self._inbox.append(event)

    def reset(self) -> None:
        """A new run: empty stream, plots and transcript; the measured baseline stays."""
        self._inbox.clear()
        self.prompt_progress = None
        self.transcript = Transcript()
        baseline = self.plot_data.baseline
        self.plot_data.clear()
        self.plot_data.baseline = baseline
        self.stream.clear()

    def drain(self) -> None:
        """Move every queued event into the transcript, the stream and the plot data."""
        if not self._inbox:
            return
        stream, data = self.stream, self.plot_data
        tokens: list[TokenEvent] = []
        settings_changed = False
        while self._inbox:
            event = self._inbox.popleft()
            self.transcript.add(event)
            if isinstance(event, TokenEvent):
                tokens.append(event)
                continue
            if tokens:
                stream.add_tokens(tokens)
                tokens = []
            if isinstance(event, StepEvent) and event.emitted:  # a step that emitted nothing counts for nothing
                stats = self.transcript.stats
                window = stats.rolling()
                if event.drafted:
                    data.acceptance.append((event.step, 100 * window.acceptance))
                    data.lengths[event.accepted] += 1
                # on the run's clock, which F4's continuations carry on (engine/stats.py)
                data.rate.append((round(stats.elapsed, 3), window.tokens_per_second))
                data.positions = stats.position_acceptance
                data.stats = stats
                data.version += 1
            elif isinstance(event, SettingsEvent):
                stream.add_marker(describe(event.changes), between_words=True)
                data.marks.append(event.step)
                data.mark_labels.append(describe(event.changes))
                data.time_marks.append(data.rate[-1][0] if data.rate else 0.0)
                settings_changed = True
            elif isinstance(event, PromptProgressEvent):
                self.prompt_progress = (event.done, event.total)
            elif isinstance(event, PromptEvent):
                self.prompt_progress = None
            elif isinstance(event, NoticeEvent):
                if event.message.startswith(PAUSED):  # why the colours stop: said where the eye is
                    stream.add_marker(event.message, between_words=True)
                self.post_message(self.Notice(event.message))
            elif isinstance(event, DoneEvent):
                stream.flush()
                if event.reason in ("stopped", "context_full", "eos", "error"):
                    stream.add_marker(event.message)
                if event.reason == "context_full":
                    self.post_message(self.Notice(event.message))
        if tokens:
            stream.add_tokens(tokens)
        self.post_message(self.Drained(settings_changed))

    # --- plots --------------------------------------------------------------------------------
    def _tick_plots(self) -> None:
        self._plot_ticks += 1
        if self.running and self._plot_ticks % 2:  # 1 Hz while generating: each redraw costs llama.cpp CPU
            return
        self.replot()

    def replot(self) -> None:
        """Redraw the plots if their data changed since the last redraw and they are on screen."""
        if self.plot_data.version == self._plotted:
            return
        for plots in (self.plots, self.payoff):
            if plots.display:
                self._plotted = self.plot_data.version
                plots.replot(self.plot_data)

    @property
    def plot_page(self) -> str:
        return self._page

    def cycle_plots(self) -> None:
        """F9: the next page of plots, then the payoff page (why it pays: widgets/payoff.py), then none. A narrow
        screen shows two plots at a time, so each takes two pages there."""
        pages = PAGES if self.screen.has_class("-narrow") else tuple(p for p in PAGES if not p.endswith("-2"))
        self._page = pages[(pages.index(self._page) + 1) % len(pages)] if self._page in pages else pages[0]
        self.plots.display = self._page.startswith("plots")
        self.payoff.display = self._page.startswith("payoff")
        self.plots.set_class(self._page == "plots-2", "-page2")
        self.payoff.set_class(self._page == "payoff-2", "-page2")
        self._plotted = -1
