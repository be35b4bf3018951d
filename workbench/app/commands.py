"""The command palette's workbench entries (ctrl+p): the screen's actions and the themes, as a Provider."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .themes import load_themes

# (name, help, action on the screen); shown only where the screen has the action
ACTIONS = (
    ("Run", "Generate from the prompt (F2)", "run"),
    ("Stop", "Stop at the next step (F3)", "stop"),
    ("Continue", "Continue the current run (F4)", "continue"),
    ("Baseline", "Measure plain decoding on the prompt (F5)", "baseline"),
    ("Clear", "Clear the stream (F6)", "clear"),
    ("Toggle rejected tokens", "Show or hide rejected drafts (F7)", "toggle_rejected"),
    ("Save transcript", "Save prompt, output, settings and stats (F8)", "save"),
    ("Record", "Record the following runs as JSON lines for `workbench replay` (ctrl+r)", "record"),
    ("Toggle chat template", "Apply the model's chat template to the prompt, or send it raw (ctrl+t)", "toggle_chat"),
    ("Open results", "Show a bench or tune results file (JSON) in the plots", "open_results"),
    ("Measure expert counts", "MoE target: perplexity, agreement and tokens/s per expert count", "measure_experts"),
    ("Export to llama.cpp", "The llama-server command line for the pair and settings in force (ctrl+o)", "export"),
    ("Help", "Keys and legend (F1)", "help"),
)


class WorkbenchCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        found: list[tuple[str, str, object]] = []
        for name, help_text, action in ACTIONS:
            # the screen's actions, then the app's (opening results is the app's: it chooses screens)
            owner = next((n for n in (self.screen, self.app) if hasattr(n, f"action_{action}")), None)
            if owner is not None:
                found.append((name, help_text, partial(self.app.run_action, action, owner)))
        for theme in load_themes():
            found.append((f"Theme: {theme.name}", "Switch the colour theme",
                          partial(setattr, self.app, "theme", theme.name)))
        return found

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
