"""Snapshots of the main screen at a fixed size, in two themes, with scripted (deterministic) content."""

from __future__ import annotations

import pytest
from scripted import scripted_events

from workbench.app.app import WorkbenchApp
from workbench.app.screens.live import LiveScreen
from workbench.engine.settings import Settings


def scripted_app(theme: str) -> WorkbenchApp:
    return WorkbenchApp(LiveScreen(Settings(drafter="cascade", draft_max=4),
                                   prompt="Summarise the quarterly report in two sentences."), theme=theme)


async def feed(pilot) -> None:
    await pilot.pause()  # the main screen is mounted
    view = pilot.app.main.view
    view.prompt.cursor_blink = False
    view.feed(scripted_events())
    view.drain()
    await pilot.pause()
    view.replot()
    await pilot.pause()


@pytest.mark.parametrize("theme", ["workbench-dark", "workbench-colorblind"])
def test_main_screen(snap_compare, theme):
    assert snap_compare(scripted_app(theme), terminal_size=(110, 32), run_before=feed)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(scripted_app("workbench-256"), terminal_size=(80, 24), run_before=feed)
