"""The command palette's workbench entries (ctrl+p): the screen's actions and the themes, as a Provider."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keys import palette_entries
from .themes import load_themes

# (name, help, action on the screen), from the actions' table (app/keys.py); shown only where the screen has the action
ACTIONS = tuple(palette_entries())


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
