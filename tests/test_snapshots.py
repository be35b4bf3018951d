"""Snapshots of the run screens (live, and a replay of a recording) at fixed sizes, with scripted (deterministic) content."""

from __future__ import annotations

import re

import pytest
from scripted import CHAIN_STEPS, Q4_1_VERIFY, STEPS, draft_recording, scripted_events
from textual.widgets._toast import Toast

from workbench.app.app import WorkbenchApp
from workbench.app.screens.live import LiveScreen
from workbench.app.screens.replay import ReplayScreen
from workbench.app.widgets.stream import TokenStream
from workbench.engine.events import PromptProgressEvent
from workbench.engine.record import load
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
        while pilot.app.main.view.plot_page != "none":
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


@pytest.mark.parametrize("size", SIZES)
def test_a_replay_of_a_draft_model_recording(snap_compare, size, tmp_path):
    """A replay played to its end: the recorded settings (drafter=draft, K=auto<=32) in the sidebar and the
    status line, not the defaults; the draft model's accepted and rejected tokens (rejected shown) in its colour."""
    recorded = load(draft_recording(tmp_path))
    assert recorded.problem is None and recorded.header["settings"]["drafter"] == "draft"
    app = WorkbenchApp(ReplayScreen(recorded.header, recorded.events, name="draft-auto.jsonl"), theme="workbench-dark")

    async def played(pilot) -> None:
        await pilot.pause()
        pilot.app.animation_level = "none"
        replay = pilot.app.main
        replay.clock.paused = True  # from here the test steps, not the 20 Hz clock
        while not replay.clock.finished:
            replay.action_step()
        # directly, not F7, whose "rejected drafts shown" toast would be in the picture
        pilot.app.query_one(TokenStream).set_show_rejected(True)
        replay.view.drain()
        await pilot.pause()
        replay.view.replot()
        await pilot.pause()
        assert "drafter=draft" in replay.status_line() and "K=auto<=32" in replay.status_line()
        assert not pilot.app.screen.query(Toast)  # opening a replay warns of nothing

    assert snap_compare(app, terminal_size=size, run_before=played)


def screen_text(app: WorkbenchApp) -> str:
    """What the terminal shows: the screenshot's SVG less the ids Rich makes unique to each export."""
    return re.sub(r"terminal-[-\w]+", "", app.export_screenshot())


@pytest.mark.parametrize("size", SIZES)
def test_an_expired_notification_has_left_the_screen(snap_compare, size):
    """The picture after a short toast expired: the chain run as it was before it (the same as the mid-demo
    snapshot), with no toast and nothing of it left behind. A snapshot renders the whole screen afresh, so it
    cannot see a frame the terminal missed; test_app's Pilot test checks what made those frames go missing."""

    async def expired(pilot) -> None:
        await feed_chain(pilot)
        pilot.app.animation_level = "none"
        before = screen_text(pilot.app)
        pilot.app.notify("a short notice", timeout=0.5)
        for _ in range(40):  # a busy machine may take a while to mount it
            await pilot.pause(0.05)
            if pilot.app.screen.query(Toast):
                break
        assert pilot.app.screen.query(Toast) and screen_text(pilot.app) != before  # it was on screen
        for _ in range(100):  # gone after its 0.5 s, within 5 s however busy the machine
            await pilot.pause(0.05)
            if not pilot.app.screen.query(Toast):
                break
        await pilot.pause(0.1)
        assert not pilot.app.screen.query(Toast)
        assert screen_text(pilot.app) == before  # the screen as it was, nothing of the toast left

    assert snap_compare(chain_app(), terminal_size=size, run_before=expired)


@pytest.mark.parametrize("size", SIZES)
def test_the_payoff_page_says_why_it_pays(snap_compare, size):
    """F9 to the payoff page: the verify cost per batch width on a Q4_1-like target, the speedup each K predicts
    from it and the measured acceptance by position, beside the measured speedup (a narrow screen's first half)."""
    async def payoff(pilot) -> None:
        await pilot.pause()
        view = pilot.app.main.view
        view.prompt.cursor_blink = False
        view.plot_data.baseline = 30.0
        view.feed(scripted_events(STEPS * 3, verify=Q4_1_VERIFY))
        view.drain()
        await pilot.pause()  # the stream follows its end before the plots change
        while not view.plot_page.startswith("payoff"):
            await pilot.press("f9")
        await pilot.pause()
        view.replot()
        await pilot.pause()
        view.stream.scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(scripted_app("workbench-dark"), terminal_size=size, run_before=payoff)


@pytest.mark.parametrize("size", SIZES)
def test_the_demo_mid_run(snap_compare, size):
    """The demo: the speedup in large digits; at 80 columns no sidebar (ctrl+b, the prompt's border says)."""
    from workbench.app.screens.live import Opening
    from workbench.demo import DEMO_PROMPTS

    async def mid_run(pilot) -> None:
        await pilot.pause()
        pilot.app.main.plot_data.baseline = 52.0
        await feed_chain(pilot)
        pilot.app.main.update_status()
        await pilot.pause()

    app = WorkbenchApp(LiveScreen(Settings(drafter="chain", chain="ngram-cache,draft", draft_max=8),
                                  prompt=DEMO_PROMPTS[0], opening=Opening(loop=DEMO_PROMPTS)), theme="workbench-dark")
    assert snap_compare(app, terminal_size=size, run_before=mid_run)
