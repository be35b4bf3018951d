"""The workbench app: themes, quitting, and choosing the screen. Everything else lives in the screens
(app/screens/), the run view (app/run_view.py) and the widgets; docs/architecture.md shows how they fit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from ..palette import DEFAULT_THEME
from ..signals import ENDING_SIGNALS, count_stops, exit_code
from .commands import WorkbenchCommands
from .screens.base import RunScreen
from .themes import load_themes, token_styles

EXIT_GRACE = 5.0  # seconds the terminal gets to be restored after a signal before the process just exits


def _leave(code: int) -> None:
    from ..crash import goodbye

    goodbye()  # ending on purpose: the crash guardian must not take this for a death
    os._exit(code)


class WorkbenchApp(App[None]):
    CSS_PATH = "workbench.tcss"
    TITLE = "workbench"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, main: RunScreen, *, theme: str | None = None, over: Screen | None = None,
                 notes: list[str] | None = None) -> None:
        """`main`: the live or replay screen; `over`: a screen shown on top of it at start (results); `notes`:
        what to tell the user at start (recovered runs, skipped files: launch.start_notes)."""
        super().__init__()
        self.main = main
        self._notes = notes or []
        self._over = over
        self._quitting = False
        for t in load_themes():
            self.register_theme(t)
        self.theme = theme if theme in self.available_themes else DEFAULT_THEME
        self.styles_map = token_styles(self._theme_variables())

    def get_default_screen(self) -> Screen:
        return self.main

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        # A dropped ssh connection (SIGHUP), a kill (SIGTERM) or SIGINT end the app like ctrl+q does: the
        # run is stopped and saved first, then the terminal is restored; the exit code is 128 + the signal.
        loop = asyncio.get_running_loop()
        for signum in ENDING_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        count_stops(signal.getsignal(signal.SIGTSTP))  # Textual's ctrl+z, timed: rates leave the stop out
        if self._over is not None:
            self.push_screen(self._over)
        for note in self._notes:
            self.notify(note, severity="warning", timeout=30)

    def _theme_variables(self) -> dict[str, str]:
        fallback = next(t for t in load_themes() if t.name == DEFAULT_THEME).variables
        return {**fallback, **self.current_theme.variables}

    def _restyle(self) -> None:
        self.styles_map = token_styles(self._theme_variables())
        if self.main.is_mounted:
            self.main.restyle()

    def _fatal_error(self) -> None:
        """An error nobody foresaw (Textual's hook for it): keep the user's work, put the traceback in a file,
        say one line, exit 1."""
        from rich.text import Text

        from ..crash import crash_line

        self.main.keep_work()
        line = crash_line(self._exception)
        self._exit_renderables.append(Text(line, no_wrap=True, overflow="ignore"))  # one line, however wide
        self._close_messages_no_wait()

    def action_open_results(self) -> None:
        """Ask for a results file path and show it over the main screen."""
        from ..engine.errors import WorkbenchError
        from .dialogs import AskPath
        from .results import ResultsScreen, load_results

        def show(path: str | None) -> None:
            if not path:
                return
            try:
                self.push_screen(ResultsScreen(load_results(path), Path(path).name))
            except WorkbenchError as e:
                self.notify(str(e), severity="error")

        self.push_screen(AskPath("results.json (from workbench bench --json), Enter to open, Esc to cancel"), show)

    def _on_signal(self, signum: int) -> None:
        if not self._quitting:
            asyncio.ensure_future(self._quit(exit_code(signum), hung_up=True))

    async def action_quit(self) -> None:
        await self._quit(0)

    async def _quit(self, code: int, hung_up: bool = False) -> None:
        if self._quitting:
            return
        self._quitting = True
        await self.main.shutdown()
        if hung_up:
            # Everything is saved. Textual's goodbye to a terminal that is gone can block (its writer thread
            # waits on a dead pty), so the process leaves on its own if that takes more than a moment.
            leave = threading.Timer(EXIT_GRACE, _leave, args=(code,))
            leave.daemon = True  # a normal exit does not wait for it
            leave.start()
        self.exit(return_code=code)
