"""A saved `workbench bench` / `workbench tune` results file, shown in the app: tokens/s against K per
drafter (with plain decoding as a level line) and the full table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable

from ..engine.errors import WorkbenchError
from ..engine.settings import DRAFTERS
from .widgets.plots import CachedPlot


def load_results(path: str | Path) -> dict[str, Any]:
    from ..engine.userfiles import RESULTS_MAX, read_text

    try:
        data = json.loads(read_text(path, "results file", RESULTS_MAX))
    except (json.JSONDecodeError, RecursionError) as e:
        raise WorkbenchError(f"{path}: not a results file ({e})") from None
    if not isinstance(data, dict) or data.get("kind") != "workbench-bench" or not isinstance(data.get("results"), list):
        raise WorkbenchError(f"{path}: not a workbench bench or tune results file")
    return data


class ResultsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    ResultsScreen { align: center middle; }
    ResultsScreen CachedPlot { height: 1fr; min-height: 10; width: 95%; background: $surface; }
    ResultsScreen DataTable { height: 1fr; width: 95%; }
    """

    def __init__(self, data: dict[str, Any], title: str) -> None:
        super().__init__()
        self.data, self.title_text = data, title

    def compose(self) -> ComposeResult:
        yield CachedPlot(id="results-plot")
        yield DataTable(id="results-table", zebra_stripes=True)

    def on_mount(self) -> None:
        rows = self.data["results"]
        plot = self.query_one(CachedPlot)
        plt = plot.plt
        plt.title(f"{self.title_text}: tokens/s against K (Esc closes)")
        for drafter in DRAFTERS[1:]:
            best: dict[int, float] = {}
            for r in rows:
                if r.get("drafter") == drafter and isinstance(r.get("k"), int) and r.get("temperature", 0) == 0:
                    best[r["k"]] = max(best.get(r["k"], 0.0), float(r["tokens_per_second"]))
            if best:
                ks = sorted(best)
                plt.plot(ks, [best[k] for k in ks], label=drafter, marker="braille")
        plain = [float(r["tokens_per_second"]) for r in rows if r.get("drafter") == "none"]
        if plain:
            plt.hline(plain[0])
        plot.changed()
        table = self.query_one(DataTable)
        # a tune's file holds every stage (screening rounds on fewer prompts and tokens, then the final): the
        # stage column says which measurement a row is, so a screening rate is not read as a final one
        table.add_columns("stage", "drafter", "K", "T", "n-gram", "tok/s", "runs", "min-max", "vs plain",
                          "acceptance")
        def order(r: dict[str, Any]) -> tuple[int, str, float]:
            stage = str(r.get("stage") or "")  # "" in a bench file: one stage
            return (0 if stage in ("", "final") else 1, stage, -float(r.get("tokens_per_second", 0)))

        for r in sorted(rows, key=order):
            runs = [float(x) for x in r.get("runs") or []]
            ratios = [float(x) for x in r.get("speedup_runs") or []]
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}x" if len(ratios) > 1 else "-"
            table.add_row(str(r.get("stage") or "bench"), r.get("drafter"), str(r.get("k")),
                          f"{r.get('temperature', 0):g}", str(r.get("ngram", "")),
                          f"{float(r['tokens_per_second']):.1f}", str(len(runs) or 1), spread,
                          f"{float(r.get('speedup') or 0):.2f}x" + (" ~ plain" if r.get("like_plain") else ""),
                          f"{100 * float(r.get('acceptance', 0)):.0f}%")
