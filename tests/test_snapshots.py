"""Snapshots of the main screen at a fixed size, in two themes, with scripted (deterministic) content."""

from __future__ import annotations

import pytest
from scripted import CHAIN_STEPS, scripted_events

from workbench.app.app import WorkbenchApp
from workbench.app.screens.live import LiveScreen
from workbench.engine.events import PromptProgressEvent
from workbench.engine.settings import Settings

SIZES = [(80, 24), (160, 45)]


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


def chain_app() -> WorkbenchApp:
    return WorkbenchApp(LiveScreen(Settings(drafter="chain", chain="ngram-cache,draft", draft_max=8),
                                   prompt="Rewrite each release note as a sentence."), theme="workbench-dark")


async def feed_chain(pilot) -> None:
    await pilot.pause()
    view = pilot.app.main.view
    view.prompt.cursor_blink = False
    view.feed(scripted_events(CHAIN_STEPS))
    view.drain()
    await pilot.pause()
    view.replot()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_a_chain_run_mid_demo(snap_compare, size):
    """The demo's chain: n-gram and draft-model tokens in their colours, per-drafter counts in the status."""
    assert snap_compare(chain_app(), terminal_size=size, run_before=feed_chain)


@pytest.mark.parametrize("size", SIZES)
def test_after_f9_the_plots_are_gone_cleanly(snap_compare, size):
    async def hide_plots(pilot) -> None:
        await feed_chain(pilot)
        while pilot.app.main.view.plots.display:
            await pilot.press("f9")
            await pilot.pause()

    assert snap_compare(chain_app(), terminal_size=size, run_before=hide_plots)


@pytest.mark.parametrize("size", SIZES)
def test_the_help_scrolled_to_its_legend(snap_compare, size):
    async def help_end(pilot) -> None:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()

    assert snap_compare(chain_app(), terminal_size=size, run_before=help_end)


@pytest.mark.parametrize("size", SIZES)
def test_prompt_processing_shows_its_progress(snap_compare, size):
    async def processing(pilot) -> None:
        await pilot.pause()
        pilot.app.animation_level = "none"  # indicators drawn still
        await pilot.wait_for_animation()
        main = pilot.app.main
        main.view.prompt.cursor_blink = False
        main.running = True
        main.view.feed([PromptProgressEvent(1024, 3072)])
        main.view.drain()
        main.view.replot()  # the empty plots' titles, which the 1 Hz tick would draw at its own time
        await pilot.pause()
        await pilot.wait_for_animation()

    assert snap_compare(chain_app(), terminal_size=size, run_before=processing)


@pytest.mark.parametrize("size", SIZES)
def test_loading_shows_where_the_eye_is(snap_compare, size):
    async def loading(pilot) -> None:
        await pilot.pause()
        pilot.app.animation_level = "none"  # the indicator's animation is drawn still, the same every time
        pilot.app.main.view.prompt.cursor_blink = False
        pilot.app.main.loading_pair = True
        pilot.app.main.view.replot()
        await pilot.pause()

    assert snap_compare(chain_app(), terminal_size=size, run_before=loading)
