"""Long use: the app's memory stays flat across runs (before, each F2 run kept ~1.2 MB: dead footer keys,
app/widgets/footer.py)."""

from __future__ import annotations

import gc
from pathlib import Path

import psutil

from workbench.app.app import WorkbenchApp
from workbench.app.screens.live import LiveScreen, Opening
from workbench.engine.models import LoadOptions
from workbench.engine.settings import Settings

PROMPT = "the model is fast and the draft is slow and the model is fast and the"


async def test_twenty_runs_in_one_app_keep_memory_flat(tiny_target: Path, tmp_path: Path) -> None:
    live = LiveScreen(Settings(drafter="lookup"), prompt=PROMPT, n_predict=200, opening=Opening(str(tiny_target), ""),
                      load_options=LoadOptions(n_ctx=1024, n_threads=1), transcripts_dir=tmp_path / "transcripts")
    app = WorkbenchApp(live)
    rss = []
    async with app.run_test(size=(100, 30)) as pilot:
        while live.engine is None:
            await pilot.pause(0.05)
        for _ in range(20):
            await pilot.press("f2")
            await pilot.pause(0.1)
            while live.running:
                await pilot.pause(0.05)
            await pilot.pause(0.1)
            gc.collect()
            rss.append(psutil.Process().memory_info().rss)
    growth = (rss[-1] - rss[4]) / 2**20  # after the first runs have filled Textual's bounded caches
    assert growth < 4, f"memory grew {growth:.1f} MiB over 15 runs: {[r >> 20 for r in rss]}"
    assert len(list((tmp_path / "transcripts").glob("*.json"))) == 19  # each run saved when the next began
