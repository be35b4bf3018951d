"""Drafting that stops says why: the draft gate's notice (with the figures behind it) in the stream, the status
line, the transcript's notices and the headless summary; and a draft model loaded in the Models tab is used."""

from __future__ import annotations

import re

import pytest
from drafter_cases import PROMPTS
from test_app import make_app, notices, run, settle, until

from workbench.app.app import WorkbenchApp
from workbench.app.screens.live import LiveScreen
from workbench.app.widgets.models import ModelsPanel
from workbench.app.widgets.stream import TokenStream
from workbench.engine.adaptive import SEED_KS, AdaptiveK
from workbench.engine.events import DoneEvent, NoticeEvent, Source, StepEvent
from workbench.engine.gate import PAUSED, DraftGate
from workbench.engine.session import STATE_NOTICE_STEPS
from workbench.engine.settings import Settings
from workbench.engine.transcript import Transcript
from workbench.headless import summary


def timed_gate() -> DraftGate:
    gate = DraftGate()
    gate.plain_step(0.010)  # plain steps of 10 ms
    gate.plain_step(0.010)
    return gate


def test_the_gate_says_once_why_it_paused_a_source_with_its_figures():
    gate, told = timed_gate(), []
    for _ in range(4):  # steps drafting 8 tokens that cost 44 ms and get 1 accepted: the slow rule
        gate.verdict("draft", 8, 1, 8, 0.044)
        told += gate.take_notices()
    assert gate.paused("draft")
    assert told == [f"{PAUSED} (draft, slower than plain decoding): 4 of 32 drafted tokens accepted; a step drafting "
                    "8 tokens (a 9-token verify) costs 4.4 plain steps here"]
    for _ in range(40):  # paused again later: said once a request
        gate.verdict("draft", 8, 1, 8, 0.044)
    assert gate.take_notices() == []


def test_the_loss_budget_says_so_when_it_stops_a_source():
    gate, told = timed_gate(), []
    for _ in range(3):
        if gate.allow("draft", 8):
            gate.verdict("draft", 8, 1, 8, 0.044)
        told += gate.take_notices()
    assert told == [f"{PAUSED} (draft, it has lost time this request): 1 of 8 drafted tokens accepted; a step drafting "
                    "8 tokens (a 9-token verify) costs 4.4 plain steps here"]


def test_a_refused_one_token_draft_again_and_again_is_said():
    gate = DraftGate()
    gate.timed = False  # the untimed rules only: a source whose every one-token draft is refused
    for _ in range(40):
        if gate.allow("lookup", 1):
            gate.verdict("lookup", 1, 0, 1)
    told = gate.take_notices()
    assert len(told) == 1 and told[0].startswith(f"{PAUSED} (lookup, its one-token drafts keep being refused): 0 of 3 ")


def test_adaptive_k_says_once_why_it_stopped_drafting(engine):
    """A policy that has measured a drafted step at 100 plain steps with nothing accepted chooses plain decoding
    from then on: after STATE_NOTICE_STEPS such steps the session says why, once, with the figures."""
    policy = AdaptiveK()
    for _ in range(len(SEED_KS)):  # past its seed steps, with nothing to explore for a long while
        policy.choose(8)
    for _ in range(8):
        policy.observe(0, 0, 0.010)
        policy.observe(4, 0, 1.0)  # far dearer than any plain step here, however busy the machine
    policy._next_explore = 10**6
    engine.k_policies.clear()
    engine.k_policies[("auto", "lookup")] = policy
    try:
        session = engine.session(PROMPTS[0])
        session.settings.update(drafter="lookup", adaptive="auto", draft_gate="off")
        events = list(session.run(2 * STATE_NOTICE_STEPS + 8))
        told = [e.message for e in events if isinstance(e, NoticeEvent)]
    finally:
        engine.k_policies.clear()
    steps = [(e.k, e.drafted) for e in events if isinstance(e, StepEvent)]
    assert len(told) == 1, (steps, policy.cost)  # the cost figure is the measured one: real plain steps join the 10 ms
    assert re.fullmatch(rf"{PAUSED} \(adaptive K, drafting does not pay\): an estimated 7% of first drafted tokens "
                        r"accepted \(from earlier requests\); a step drafting 4 tokens \(a 5-token verify\) costs "
                        r"\d+\.\d plain steps here \(set K by hand to force it\)", told[0]), told[0]


def test_the_headless_summary_repeats_why_drafting_paused():
    t = Transcript()
    t.add(StepEvent(0, Source.TARGET, 0, 0, 0, 1, 0.0, 0.01, 0.01))
    t.add(NoticeEvent("another notice"))
    t.add(NoticeEvent(f"{PAUSED} (draft, slower than plain decoding): 2 of 12 drafted tokens accepted"))
    text = summary(t)
    assert text.endswith(f"\n{PAUSED} (draft, slower than plain decoding): 2 of 12 drafted tokens accepted")
    assert "another notice" not in text


async def test_the_stream_and_the_status_say_drafting_paused():
    app = WorkbenchApp(LiveScreen(Settings(drafter="draft"), prompt="p"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        view = app.main.view
        message = f"{PAUSED} (draft, slower than plain decoding): 2 of 12 drafted tokens accepted"
        view.feed([StepEvent(0, Source.DRAFT, 8, 8, 1, 2, 0.0, 0.04, 0.04), NoticeEvent(message),
                   *(StepEvent(i, Source.TARGET, 0, 0, 0, 1, 0.0, 0.01, 0.04 + 0.01 * i) for i in range(1, 9)),
                   DoneEvent("n_predict", "generated 10 tokens")])
        view.drain()
        await pilot.pause()
        assert f"\u2039{message}\u203a" in app.query_one(TokenStream).text.replace("\n", "")
        assert " idle draft-paused K=" in app.main.status_line()
        assert app.main.transcript.notices == [message]


async def test_a_draft_model_loaded_in_the_models_tab_is_drafted_with(tiny_target, tiny_draft, tmp_path):
    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    async with run(app) as pilot:
        await settle(pilot)
        app.query_one(ModelsPanel).post_message(ModelsPanel.Load(str(tiny_target), str(tiny_draft)))
        await until(pilot, lambda: app.main.engine is not None and app.main.engine.draft is not None)
        await settle(pilot)
        assert app.main.settings.snapshot().drafter == "draft"
        assert "a draft model is loaded: the drafter is now draft" in notices(app)


async def test_a_setting_is_marked_between_words_and_labelled_in_the_plots():
    from workbench.engine.events import Fate, SettingsEvent, TokenEvent

    def token(piece: str, step: int) -> list:
        return [TokenEvent(step, piece, Source.TARGET, Fate.PLAIN, step, 0),
                StepEvent(step, Source.TARGET, 0, 0, 0, 1, 0.0, 0.01, 0.01 * (step + 1))]

    app = WorkbenchApp(LiveScreen(Settings(drafter="lookup"), prompt="p"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        view = app.main.view
        view.feed([*token("He", 0), *token(" cl", 1), SettingsEvent(2, {"temperature": 0.3}), *token("ung", 2),
                   *token(".", 3), *token(" Then", 4)])
        view.drain()
        await pilot.pause()
        assert app.query_one(TokenStream).text.replace("\n", "") == "He clung. \u2039T=0.3\u203a Then"
        assert view.plot_data.marks == [2] and view.plot_data.mark_labels == ["T=0.3"]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)])
async def test_notifications_stand_off_the_plots_and_the_stream(size):
    """Toasts over the sidebar when it shows, over the prompt when it does not (below 100 columns at start, or
    after ctrl+b): never over the plots, and within the prompt's rows while they are few."""
    from textual.widgets._toast import Toast

    app = WorkbenchApp(LiveScreen(Settings(drafter="draft"), prompt="p"))
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause()
        for sidebar in (True, False):
            if app.main.query_one("#sidebar").display != sidebar:
                await pilot.press("ctrl+b")
            app.main.notify("a draft model is loaded: the drafter is now draft", timeout=30)
            await pilot.pause(0.3)
            plots, stream = app.main.query_one("#plots").region, app.main.query_one(TokenStream).region
            toasts = [t.region for t in app.screen.query(Toast)]
            assert toasts
            for toast in toasts:
                assert not toast.overlaps(plots), (size, sidebar, toast, plots)
                if sidebar:
                    assert toast.right <= app.main.query_one("#sidebar").region.right
                else:
                    assert not toast.overlaps(stream), (size, sidebar, toast, stream)
            app.clear_notifications()
            await pilot.pause()
