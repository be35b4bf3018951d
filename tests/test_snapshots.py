"""Snapshots of the main screen at a fixed size, in two themes, with scripted (deterministic) content."""

from __future__ import annotations

import pytest
from scripted import scripted_events

from workbench.app.app import WorkbenchApp
from workbench.engine.settings import Settings


def scripted_app(theme: str) -> WorkbenchApp:
    return WorkbenchApp(None, None, Settings(drafter="cascade", draft_max=4), theme=theme,
                        prompt="Summarise the quarterly report in two sentences.")


async def feed(pilot) -> None:
    app = pilot.app
    app.query_one("#prompt").cursor_blink = False
    app._inbox.extend(scripted_events())
    app._drain()
    app._replot()
    await pilot.pause()


@pytest.mark.parametrize("theme", ["workbench-dark", "workbench-colorblind"])
def test_main_screen(snap_compare, theme):
    assert snap_compare(scripted_app(theme), terminal_size=(110, 32), run_before=feed)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(scripted_app("workbench-256"), terminal_size=(80, 24), run_before=feed)
