"""The app's dialogs: help, the expert-count table, the llama.cpp command, and asking for a path. Each is a small
modal screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Markdown, Static, TextArea
from textual.worker import Worker, WorkerState

from .messages import ExpertsMeasured

if TYPE_CHECKING:
    from ..engine.gguf_info import ModelInfo
    from ..engine.models import LoadOptions
    from ..experts import ExpertRow

HELP = """\
# workbench

**Keys**

| key | action |
|---|---|
| F2 | run: generate from the prompt |
| F3 | stop at the next step |
| F4 | more: continue the current run |
| F5 | plain: measure plain decoding on the same prompt, the baseline of the speedup |
| F6 | clear the stream |
| F7 | show or hide rejected draft tokens (hidden: a · marks where a draft was rejected) |
| F8 | save the transcript (also saved on exit) |
| F9 | plots: next page, then the payoff page (why it pays), then hide |
| ctrl+b | show or hide the sidebar |
| ctrl+r | record the following runs (JSON lines, for `workbench replay`) |
| ctrl+t | chat template on or off (raw completion) |
| ctrl+o | export: the llama-server command for the settings in force |
| space / n / + / - | in a replay: pause, step one verify step, faster, slower |
| ctrl+p | command palette (actions, themes) |
| ctrl+q | quit |

In the controls, focus a field and use **up/down**, or type a value and press Enter.
A change applies at the next verify step while generation continues; the stream marks it ‹like this›.
The sidebar shows the parameters of the drafters in use only. **chain** runs llama.cpp's --spec-type: type
its members (e.g. `ngram-mod,ngram-cache,draft`); the first that drafts wins, in llama.cpp's order. The
**draft gate** (on by default) lets a drafter draft one token more than it last had accepted and pauses it
after refused single tokens; off, drafters draft as llama.cpp's do.

**The status line**: `acc` is accepted / drafted tokens and `len` the mean accepted length per drafting
step counting the target's own token (accepted / drafting steps + 1), both as llama.cpp prints them;
with a chain or the cascade each drafter's accepted/drafted tokens follow (`ngram-cache=12/40`). On a
recurrent target (Mamba, RWKV, hybrids) `state` is what keeping its state aside and restoring it after a
rejection costs a drafting step; with a draft model of another vocabulary (cross-vocabulary, Models tab)
`xvocab` is how many draft-model tokens each drafted target token took.

**What is guaranteed**: every emitted token is the target's own choice from the logits computed for its
position in the verify batch (at temperature 0 its argmax; above 0, lossless rejection sampling, so the
output follows the target's distribution). That is not the same as "equal to plain decoding": llama.cpp's
CPU kernels round a batch of several tokens differently from a batch of one, and where the target's two
best candidates are nearly tied the choice can flip. With a greedy baseline (F5) on the same prompt, the
app says after each greedy run whether its output is identical to plain decoding, or where it first
differs and how close that tie was.

**Legend**: the target's own tokens in the plain colour; accepted drafts in their source's colour
(draft model, prompt lookup, suffix cache, and one colour for llama.cpp's n-gram types: ngram-simple,
ngram-map-k, ngram-map-k4v, ngram-mod, ngram-cache); the target's correction or bonus token underlined,
where each verify step ended. A dot (·) in place of a space marks where a step's draft was rejected; F7 shows the
rejected drafts themselves, dim and struck through where they were proposed.
"""


class HelpScreen(ModalScreen[None]):
    """Keys, guarantee and legend; scrolls with the arrows, PageUp/PageDown, Home/End and the wheel."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $primary;
                                background: $surface; scrollbar-size-vertical: 1; }
    HelpScreen Markdown { background: $surface; }
    """

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll(Markdown(HELP), can_focus=True)
        scroll.border_title = "help (Esc closes)"
        yield scroll

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # so the scrolling keys reach it


def experts_table(model_name: str, rows: list[ExpertRow]) -> Table:
    table = Table(title=f"{model_name}: expert count (Esc closes)")
    for col in ("experts", "perplexity", "agreement", "tok/s", "vs default"):
        table.add_column(col, justify="right")
    base = next(r for r in rows if r.default)
    for r in rows:
        table.add_row(f"{r.experts}{' (default)' if r.default else ''}", f"{r.perplexity:.2f}",
                      f"{100 * r.agreement:.1f}%", f"{r.tokens_per_second:.1f}",
                      f"{r.tokens_per_second / base.tokens_per_second:.2f}x")
    return table


class ExpertsScreen(ModalScreen[None]):
    """The expert-count table (as `workbench experts`) for an MoE target, measured in a worker while shown."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    ExpertsScreen { align: center middle; }
    ExpertsScreen Static { width: auto; max-width: 100%; height: auto; border: round $primary;
                           background: $surface; padding: 1 2; }
    """

    def __init__(self, info: ModelInfo, options: LoadOptions) -> None:
        super().__init__()
        self.info, self.options = info, options
        self.rows: list[ExpertRow] = []  # once measured

    def compose(self) -> ComposeResult:
        yield Static(f"measuring every expert count of {self.info.name} on a reference text...")

    def on_mount(self) -> None:
        self._measure()

    @work(thread=True, name="experts", exit_on_error=False)
    def _measure(self) -> None:
        from ..engine.models import LoadOptions
        from ..experts import REFERENCE, measure

        o, info = self.options, self.info
        options = LoadOptions(n_ctx=o.n_ctx, n_threads=o.n_threads, n_batch=o.n_batch)
        rows = measure(info.path, list(range(info.expert_used_count, 0, -1)), REFERENCE, options, 256, 32)
        self.post_message(ExpertsMeasured(info.name, rows))

    def on_experts_measured(self, message: ExpertsMeasured) -> None:
        self.rows = message.rows
        self.query_one(Static).update(experts_table(message.model_name, message.rows))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one(Static).update(f"the measurement failed: {event.worker.error} (Esc closes)")


class ExportScreen(ModalScreen[None]):
    """The llama.cpp command for the configuration in force (workbench/export.py): selectable and scrollable;
    c copies it (comments and command: a shell snippet) to the clipboard, over ssh too (OSC 52)."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close"), Binding("c", "copy", "Copy")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen Vertical { width: 90%; max-width: 120; height: auto; max-height: 90%; border: round $primary;
                            background: $surface; }
    ExportScreen TextArea, ExportScreen TextArea:focus { height: auto; max-height: 40; border: none;
                                                         background: $surface; padding: 0 1; }
    """

    def __init__(self, text: str, tool: str = "llama-server") -> None:
        super().__init__()
        self.text = text
        self.tool = tool

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = f"{self.tool} command (c copies, Esc closes)"
        with box:
            yield TextArea(self.text, read_only=True, soft_wrap=True, show_cursor=False, highlight_cursor_line=False)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()  # so the scrolling and selecting keys reach it

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("copied", timeout=2)


class AskPath(ModalScreen[str]):
    """One line of input; dismissed with what was typed (Enter) or "" (Esc)."""

    DEFAULT_CSS = "AskPath { align: center middle; } AskPath Input { width: 70; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, placeholder: str) -> None:
        super().__init__()
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield Input(placeholder=self._placeholder)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss("")
