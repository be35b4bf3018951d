"""The live screen's actions, declared once: the key, the footer's word, the help's line and the command
palette's entry of each. The screen's bindings (screens/live.py), the palette's commands (commands.py) and
the help's key table (dialogs.py) are built from this table, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class Action:
    action: str  # the screen's (or the app's) action_<name>
    key: str = ""  # "" for an action only the palette offers
    footer: str = ""  # the binding's word in the footer (short: all the F keys fit 80 columns)
    help: str = ""  # its line in the help's key table ("" for none)
    palette: str = ""  # its name in the command palette ("" for none)
    palette_help: str = ""  # what the palette says it does (the key follows in brackets)
    show: bool = True  # in the footer
    priority: bool = True  # before the focused widget's own bindings

    @property
    def key_name(self) -> str:
        """The key as the help and the palette name it: F2, ctrl+r."""
        return self.key.upper() if self.key[1:].isdigit() else self.key


# The order is the footer's (of the keys it shows), the help's and the palette's.
LIVE_ACTIONS = (
    Action("run", "f2", "Run", "run: generate from the prompt", "Run", "Generate from the prompt"),
    Action("stop", "f3", "Stop", "stop at the next step", "Stop", "Stop at the next step"),
    # F4 generates more of the same request, F5 measures plain decoding (the baseline of the speedup)
    Action("continue", "f4", "More", "more: continue the current run", "Continue", "Continue the current run"),
    Action("baseline", "f5", "Plain", "plain: measure plain decoding on the same prompt, the baseline of the speedup",
           "Baseline", "Measure plain decoding on the prompt"),
    Action("clear", "f6", "Clear", "clear the stream", "Clear", "Clear the stream"),
    Action("toggle_rejected", "f7", "Rejected",
           "show or hide rejected draft tokens (hidden: a · marks where a draft was rejected)",
           "Toggle rejected tokens", "Show or hide rejected drafts"),
    Action("save", "f8", "Save", "save the transcript (also saved on exit)", "Save transcript",
           "Save prompt, output, settings and stats"),
    Action("cycle_plots", "f9", "Plots", "plots: next page, then the payoff page (why it pays), then hide"),
    Action("toggle_sidebar", "ctrl+b", "Sidebar", "show or hide the sidebar", show=False, priority=False),
    Action("record", "ctrl+r", "Record", "record the following runs (JSON lines, for `workbench replay`)", "Record",
           "Record the following runs as JSON lines for `workbench replay`", show=False, priority=False),
    Action("toggle_chat", "ctrl+t", "Chat/raw", "chat template on or off (raw completion)", "Toggle chat template",
           "Apply the model's chat template to the prompt, or send it raw", show=False, priority=False),
    Action("open_results", palette="Open results", palette_help="Show a bench or tune results file (JSON) in the plots"),
    Action("measure_experts", palette="Measure expert counts",
           palette_help="MoE target: perplexity, agreement and tokens/s per expert count"),
    # not ctrl+e: the prompt editor and the fields take it (end of line). Not in the footer: it is full at 110
    # columns (and the snapshots keep it so); F1's table and the command palette list it.
    Action("export", "ctrl+o", "Export", "export: the llama-server command for the settings in force",
           "Export to llama.cpp", "The llama-server command line for the pair and settings in force", show=False,
           priority=False),
    Action("help", "f1", "Help", palette="Help", palette_help="Keys and legend"),
)


def bindings(actions: tuple[Action, ...] = LIVE_ACTIONS) -> list[Binding]:
    return [Binding(a.key, a.action, a.footer, show=a.show, priority=a.priority) for a in actions if a.key]


def palette_entries(actions: tuple[Action, ...] = LIVE_ACTIONS) -> list[tuple[str, str, str]]:
    """(name, help, action) for each action the palette offers."""
    return [(a.palette, f"{a.palette_help} ({a.key_name})" if a.key else a.palette_help, a.action)
            for a in actions if a.palette]


def help_rows(actions: tuple[Action, ...] = LIVE_ACTIONS) -> str:
    """The help's key table rows, as Markdown."""
    return "".join(f"| {a.key_name} | {a.help} |\n" for a in actions if a.key and a.help)
