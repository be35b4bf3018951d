"""The request log of the app's server mode: one row per request served, the running one highlighted.

Columns: id, arrival, prompt and generated tokens, acceptance, speedup over plain decoding measured on this
machine ("?" until measured), drafter, and the settings the request ran with (a change made while it ran is
shown as `a->b`). Bounded: the oldest rows leave past MAX_ROWS.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.widgets import DataTable

from ...engine.settings import SPECS, Settings

if TYPE_CHECKING:
    from ...engine.stats import Stats
    from ...serve.slot import Record

MAX_ROWS = 500
COLUMNS = ("id", "arrival", "prompt", "generated", "acceptance", "speedup", "drafter", "settings")


def settings_text(s: Settings | None, changes: list[dict] | None = None) -> str:
    """The settings that decide speed, short: K, T, and what changed while the request ran."""
    if s is None:
        return "?"
    text = f"K={s.k_text()} T={s.temperature:g}" + (f" chain={s.chain}" if s.drafter == "chain" else "")
    for change in changes or []:
        text += " " + " ".join(f"{SPECS[k].short if k in SPECS else k}->{v}" for k, v in change.items() if k != "step")
    return text


class RequestLog(DataTable):
    DEFAULT_CSS = "RequestLog { height: 8; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.current: str | None = None  # the running request's id

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def _cells(self, record: Record, stats: Stats, baseline: float | None, running: bool) -> list[str]:
        drafted = stats.n_drafted
        speedup = f"{stats.tokens_per_second / baseline:.2f}x" if baseline and stats.n_steps else "?"
        changes = [c.changes for c in record.transcript.settings_changes] if not running else None
        return [record.id.split("-")[1], time.strftime("%H:%M:%S", time.localtime(record.arrival)),
                str(record.prompt_tokens), str(stats.n_emitted) + (" ..." if running else ""),
                f"{100 * stats.acceptance:.0f}%" if drafted else "-", speedup,
                record.settings.drafter if record.settings else "?", settings_text(record.settings, changes)]

    def begin(self, record: Record, baseline: float | None) -> None:
        """A request started: its row, highlighted."""
        if self.row_count >= MAX_ROWS:
            self.remove_row(next(iter(self.rows)))
        self.current = record.id
        self.add_row(*self._cells(record, record.stats, baseline, True), key=record.id)
        self.move_cursor(row=self.get_row_index(record.id))

    def update(self, record: Record, stats: Stats, baseline: float | None, running: bool) -> None:
        """The row's figures now (from the view's statistics while it runs, the record's when it ended)."""
        if record.id not in self.rows:
            return
        for name, value in zip(COLUMNS, self._cells(record, stats, baseline, running), strict=True):
            self.update_cell(record.id, name, value)
        if not running and self.current == record.id:
            self.current = None
