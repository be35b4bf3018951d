"""The Textual app driven with Pilot on the tiny generated models."""

from __future__ import annotations

import re
from pathlib import Path

from textual.notifications import Notify

from workbench.app.app import WorkbenchApp
from workbench.app.screens.live import LiveScreen, Opening
from workbench.app.widgets.stream import TokenStream
from workbench.engine.events import Fate, Source
from workbench.engine.models import LoadOptions
from workbench.engine.settings import Settings

PROMPT = "the model is fast and the draft is slow and the model is fast and the"
OPTIONS = LoadOptions(n_ctx=16384, n_threads=2)  # a long context: runs last long enough to be steered


def make_app(target: Path, draft: Path | None, tmp_path: Path, **settings) -> WorkbenchApp:
    live = LiveScreen(Settings(**{"drafter": "draft", **settings}), prompt=PROMPT, n_predict=16000,
                      opening=Opening(str(target), str(draft) if draft else ""), load_options=OPTIONS,
                      transcripts_dir=tmp_path / "transcripts")
    return WorkbenchApp(live)


NOTICES: dict[WorkbenchApp, list[str]] = {}


def run(app: WorkbenchApp):
    """app.run_test, keeping the text of every notification the app posts."""
    seen = NOTICES[app] = []
    return app.run_test(size=(100, 30), message_hook=lambda m: isinstance(m, Notify) and seen.append(str(m.notification.message)))


async def until(pilot, condition, timeout: float = 20.0) -> None:
    waited = 0.0
    while not condition():
        await pilot.pause(0.02)
        waited += 0.02
        assert waited < timeout, "timed out"


async def settle(pilot) -> None:
    """Wait for the app's workers (a failed one too: its error is the app's to show)."""
    await until(pilot, lambda: not any(w.is_running for w in pilot.app.workers))
    await pilot.pause()


def notices(app: WorkbenchApp) -> list[str]:
    return NOTICES[app]


async def test_load_run_and_steer_mid_run(tiny_target, tiny_draft, tmp_path):
    app = make_app(tiny_target, tiny_draft, tmp_path, draft_max=4)
    async with run(app) as pilot:
        await settle(pilot)
        assert app.main.engine is not None and app.main.engine.draft is not None
        await pilot.press("f2")
        # the run's steps, not those of plain decoding measured first (it shows on screen meanwhile)
        await until(pilot, lambda: not app.main.measuring and len(app.main.transcript.steps) >= 5)
        # K by keyboard: focus the field and step it down twice
        app.query_one("#draft_max").focus()
        await pilot.press("down", "down")
        # temperature by typing a value
        app.query_one("#temperature").focus()
        await pilot.press(*"0.7", "enter")
        await until(pilot, lambda: any(c.changes.get("temperature") == 0.7 for c in app.main.transcript.settings_changes))
        await pilot.press("f3")
        await until(pilot, lambda: not app.main.running)
        steps = app.main.transcript.steps
        k_change = next(c for c in app.main.transcript.settings_changes if c.changes.get("draft_max") == 2)
        assert all(s.k <= 2 for s in steps if s.step >= k_change.step)
        first_change = app.main.transcript.settings_changes[0]
        assert "draft_max" in first_change.changes and all(s.k == 4 for s in steps[:first_change.step])
        # F3 stops it, unless sampling at T=0.7 drew the end-of-generation token first (stopping itself is
        # tested in test_engine); either way the run ended cleanly
        assert app.main.transcript.done.reason in ("stopped", "eos")
        stream = app.query_one(TokenStream)
        assert "\u2039K=2\u203a" in stream.text  # the marker where the setting changed
        assert re.fullmatch(r"tok/s=\d+\.\d speedup=\d+\.\d\dx plain=\d+\.\d idle K=2 T=0\.70 drafter=draft "
                            r"acc=\d+\.\d% drafted=\d+ accepted=\d+ len=\d+\.\d\d tokens=\d+", app.main.status_line())
        # continue where it stopped
        before, ended = app.main.transcript.stats.n_emitted, app.main.transcript.done
        app.main.n_predict = 20
        await pilot.press("f4")
        await until(pilot, lambda: not app.main.running and app.main.transcript.done is not ended)
        more = app.main.transcript.stats.n_emitted - before
        assert more == 20 or (app.main.transcript.done.reason == "eos" and more < 20)


async def test_toggle_rejected_and_switch_theme(tiny_target, tiny_draft, tmp_path):
    app = make_app(tiny_target, tiny_draft, tmp_path, draft_max=6)
    app.main.n_predict = 60
    async with run(app) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: not app.main.running and app.main.transcript.done is not None)
        stream = app.query_one(TokenStream)
        rejected = [t for t in app.main.transcript.tokens if t.fate is Fate.REJECTED]
        assert rejected
        # by default the accepted text reads as prose, a dot where a draft was rejected
        assert not stream.show_rejected
        hidden = len(stream.text)
        assert "\u00b7" in stream.text
        prose = re.sub(" \u2039[^\u203a]*\u203a", "", stream.text.replace("\n", ""))  # the marks aside
        assert prose.replace("\u00b7", " ").lstrip().startswith(app.main.transcript.text.replace("\n", "").lstrip()[:20])
        await pilot.press("f7")  # the rejected drafts, struck through where they were proposed
        assert stream.show_rejected and len(stream.text) > hidden and "\u00b7" not in stream.text
        await pilot.press("f7")
        assert len(stream.text) == hidden
        dark = app.styles_map[(Source.DRAFT, Fate.ACCEPTED)].color
        app.theme = "workbench-light"
        await pilot.pause()
        assert app.styles_map[(Source.DRAFT, Fate.ACCEPTED)].color != dark
        assert stream.styles_map is app.styles_map


async def test_out_of_range_input_is_refused(tiny_target, tmp_path):
    app = make_app(tiny_target, None, tmp_path, drafter="lookup", draft_max=4)
    async with run(app) as pilot:
        await settle(pilot)
        app.query_one("#draft_max").focus()
        await pilot.press(*"99", "enter")
        await pilot.pause()
        assert app.main.settings.snapshot().draft_max == 4
        assert app.query_one("#draft_max").value == "4"
        assert any("K (draft max) must be from 0 to 64" in n for n in notices(app))
        app.query_one("#top_p").focus()
        await pilot.press(*"1.5", "enter")
        assert app.main.settings.snapshot().top_p == 0.95
        # experts are disabled for a dense model, with the reason shown
        assert app.query_one("#experts").disabled
        assert "not MoE" in str(app.query_one("#experts-reason").render())
        # the draft drafter without a draft model is refused
        assert not app.main.apply_setting("drafter", "draft")


async def test_bad_path_and_incompatible_pair_keep_the_app_running(tiny_target, renamed_token_model, tmp_path):
    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    async with run(app) as pilot:
        await settle(pilot)
        engine = app.main.engine
        app.main.load_models(str(tmp_path / "missing.gguf"))
        await settle(pilot)
        assert app.main.engine is engine
        assert any("no such file" in n for n in notices(app))
        app.main.load_models(str(tiny_target), str(renamed_token_model))
        await settle(pilot)
        assert app.main.engine is engine
        assert any("token 300 differs" in n for n in notices(app))
        # still usable
        app.main.n_predict = 10
        await pilot.press("f2")
        await until(pilot, lambda: not app.main.running and app.main.transcript.stats.n_emitted == 10)


async def test_the_cross_vocabulary_box_lets_a_pair_of_two_vocabularies_in(tiny_target, models_dir, tmp_path):
    import tinymodels
    from textual.widgets import Checkbox, Static

    from workbench.engine.drafters.cross_vocab import CrossVocabDrafter

    draft = tinymodels.cross_vocab_draft(models_dir)
    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    async with run(app) as pilot:
        await settle(pilot)
        engine = app.main.engine
        app.main.load_models(str(tiny_target), str(draft))  # the box unticked: refused, saying how to go on
        await settle(pilot)
        assert app.main.engine is engine
        assert any("sizes differ" in n and "--cross-vocab" in n for n in notices(app))
        app.query_one("#cross-vocab", Checkbox).value = True
        app.query_one("#load").press()
        await settle(pilot)
        assert app.main.engine is not engine and app.main.engine.cross_vocab
        assert isinstance(app.main.engine.drafters["draft"], CrossVocabDrafter)
        facts = str(app.query_one("#facts", Static).render())
        assert "cross-vocabulary" in facts and "re-tokenised" in facts
        app.main.settings.update(drafter="draft", draft_max=4, draft_gate="off")
        app.main.n_predict = 20
        await pilot.press("f2")
        await until(pilot, lambda: not app.main.running and app.main.transcript.stats.n_emitted == 20)
        assert "xvocab=" in app.main.status_line()


async def test_save_and_load_a_preset(tiny_target, tmp_path, monkeypatch):
    from workbench import presets

    monkeypatch.setattr(presets, "user_presets_dir", lambda: tmp_path / "presets")
    app = make_app(tiny_target, None, tmp_path, drafter="suffix", draft_max=12, ngram=2)
    async with run(app) as pilot:
        await settle(pilot)
        app.query_one("#preset-name").focus()
        await pilot.press(*"mine", "enter")
        saved = tmp_path / "presets" / "mine.toml"
        assert saved.is_file()
        app.main.settings.update(drafter="lookup", draft_max=3)
        app.main.apply_preset("mine")
        await settle(pilot)
        s = app.main.settings.snapshot()
        assert (s.drafter, s.draft_max, s.ngram) == ("suffix", 12, 2)
        assert app.main.engine is not None and app.main.engine.target.info.path == tiny_target.resolve()
        app.main.apply_preset("no-such-preset")
        await pilot.pause()
        assert any("no preset 'no-such-preset'" in n for n in notices(app)), notices(app)


async def test_transcript_is_saved_on_demand_and_on_exit(tiny_target, tmp_path):
    import json

    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    app.main.n_predict = 30
    async with run(app) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: not app.main.running and app.main.transcript.done is not None)
        await pilot.press("f8")
        first = json.loads(app.main.saved_path.read_text())
        assert first["prompt"] == PROMPT and first["stats"]["n_predicted"] == 30
        assert first["settings"]["drafter"] == "lookup"
        await pilot.press("f4")  # more output, not saved yet
        await until(pilot, lambda: not app.main.running and app.main.transcript.stats.n_emitted >= 60)
        await app.action_quit()
    files = sorted((tmp_path / "transcripts").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["stats"]["n_predicted"] == 60  # one run, one file


async def test_baseline_measures_plain_decoding(tiny_target, tmp_path):
    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    app.main.n_predict = 40
    async with run(app) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await until(pilot, lambda: not app.main.running and app.main.plot_data.baseline)
        assert "plain=" in app.main.status_line() and "speedup=" in app.main.status_line()


async def test_experts_control_on_a_moe_target(tiny_moe, tmp_path):
    app = make_app(tiny_moe, None, tmp_path, drafter="lookup")
    async with run(app) as pilot:
        await settle(pilot)
        field = app.query_one("#experts")
        assert not field.disabled and "4 experts" in str(app.query_one("#experts-reason").render())
        await pilot.press("f2")
        await until(pilot, lambda: len(app.main.transcript.steps) >= 3)
        field.focus()
        await pilot.press("up")  # 0 (the model's own) -> 1
        await until(pilot, lambda: app.main.engine.experts == 1)
        await until(pilot, lambda: len(app.main.transcript.steps) >= 10)
        await pilot.press("f3")
        await until(pilot, lambda: not app.main.running)
        assert "\u2039experts=1\u203a" in app.query_one(TokenStream).text
        assert "experts=1" in app.main.status_line()
        field.focus()
        await pilot.press(*"9", "enter")
        await pilot.pause()
        assert any("from 1 to 4" in n for n in notices(app)) and app.main.settings.snapshot().experts == 1


async def test_measure_expert_counts_action(tiny_moe, tmp_path):
    from workbench.app.dialogs import ExpertsScreen

    app = make_app(tiny_moe, None, tmp_path, drafter="lookup")
    async with run(app) as pilot:
        await settle(pilot)
        app.main.action_measure_experts()
        await settle(pilot)
        assert isinstance(app.screen, ExpertsScreen) and not app.main.running
        await until(pilot, lambda: app.screen.rows)  # the table arrives as a message after the worker ends
        assert [r.experts for r in app.screen.rows] == [2, 1]  # every count, measured


async def test_loading_posts_typed_messages(tiny_target, tmp_path):
    from workbench.app.messages import EngineLoaded, LoadFailed

    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    posted = []
    async with app.run_test(size=(100, 30), message_hook=posted.append) as pilot:
        await settle(pilot)
        loaded = [m for m in posted if isinstance(m, EngineLoaded)]
        assert len(loaded) == 1 and loaded[0].target == str(tiny_target) and loaded[0].engine is app.main.engine
        app.main.load_models(str(tmp_path / "missing.gguf"))
        await settle(pilot)
        failed = [m for m in posted if isinstance(m, LoadFailed)]
        assert len(failed) == 1 and "no such file" in failed[0].reason


async def test_typed_numbers_never_crash_the_app(tiny_target, tmp_path):
    """Half-typed numbers, exponents, underscores, signs and decimals where whole numbers are expected: each is
    refused with one message, or taken as typed; stepping a half-typed field is refused too."""
    app = make_app(tiny_target, None, tmp_path, drafter="lookup", draft_max=4)
    async with run(app) as pilot:
        await settle(pilot)
        for field, typed, key in [("#draft_max", "1_", "up"), ("#temperature", "1e", "down"), ("#top_k", "4_", "up"),
                                  ("#draft_max", "3.5", "enter"), ("#draft_max", "-5", "enter"),
                                  ("#seed", "--", "enter"), ("#top_p", ".", "down")]:
            app.query_one(field).focus()
            app.query_one(field).value = ""
            await pilot.press(*typed, key)
            await pilot.pause()
        s = app.main.settings.snapshot()
        assert (s.draft_max, s.temperature, s.top_k, s.seed) == (4, 0.0, 40, 0)
        refusals = [n for n in notices(app) if "must be" in n]
        assert len(refusals) == 7 and all(n.startswith(("K (draft max)", "temperature", "top-k", "top-p", "seed"))
                                          for n in refusals)  # each names the control as the sidebar labels it
        assert app.query_one("#draft_max").value == "4"
        app.query_one("#draft_max").focus()
        app.query_one("#draft_max").value = ""
        await pilot.press(*"6", "enter")
        await pilot.pause()
        assert app.main.settings.snapshot().draft_max == 6  # typed as typed


async def test_a_saved_transcript_records_the_settings_the_run_used(tiny_target, tmp_path):
    import json

    app = make_app(tiny_target, None, tmp_path, drafter="lookup", draft_max=8)
    app.main.n_predict = 20
    async with run(app) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: not app.main.running and app.main.transcript.done is not None)
        app.main.apply_setting("drafter", "suffix")  # changed after the run ended
        app.main.apply_setting("draft_max", 3)
        await pilot.press("f8")
        saved = json.loads(app.main.saved_path.read_text())
    assert (saved["settings"]["drafter"], saved["settings"]["draft_max"]) == ("lookup", 8)
    assert saved["settings_changes"] == []


async def test_a_burst_of_steps_is_coalesced_and_the_last_value_wins(tiny_target, tmp_path):
    from textual import events

    app = make_app(tiny_target, None, tmp_path, drafter="lookup", draft_max=4)
    async with run(app) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: len(app.main.transcript.steps) >= 3)
        field = app.query_one("#draft_max")
        field.focus()
        await pilot.pause()
        posted = [events.Key("up" if i % 3 else "down", None) for i in range(90)]  # +30 net, as fast as a terminal sends
        for key in posted:
            field.post_message(key)
        await until(pilot, lambda: field.value == "34")  # on screen at once
        await until(pilot, lambda: app.main.settings.snapshot().draft_max == 34)
        await until(pilot, lambda: any(c.changes.get("draft_max") == 34 for c in app.main.transcript.settings_changes))
        await pilot.press("f3")
        await until(pilot, lambda: not app.main.running)
        ks = [c.changes["draft_max"] for c in app.main.transcript.settings_changes if "draft_max" in c.changes]
        assert ks and ks[-1] == 34 and len(ks) < 30  # coalesced: far fewer changes than keys


async def test_a_greedy_run_reports_its_agreement_with_the_greedy_baseline(tiny_target, tmp_path):
    from workbench.app.messages import AgreementMeasured

    app = make_app(tiny_target, None, tmp_path, drafter="lookup", draft_max=4)
    app.main.n_predict = 30
    posted = []
    async with app.run_test(size=(100, 30), message_hook=posted.append) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await until(pilot, lambda: not app.main.running and app.main.plot_data.baseline)
        await pilot.press("f2")
        await until(pilot, lambda: any(isinstance(m, AgreementMeasured) for m in posted) and not app.main.running)
        report = next(m for m in posted if isinstance(m, AgreementMeasured)).agreement
        assert report.tokens == 30 and (report.identical or report.margin is not None)


async def test_every_control_takes_any_typing_without_dying(tiny_target, tmp_path):
    """The probe of the issue: every numeric control x partial numbers, exponents, underscores, signs and
    decimals; each value is refused with one line naming the control, or taken as typed."""
    from workbench.app.widgets.controls import FIELDS

    typed = ["1_", "1e", "1e3", "4_", "-", "+", ".", "-3", "2.5", "3.0", "0x1", "--1", "1..2", " ", "9" * 30]
    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    async with run(app) as pilot:
        await settle(pilot)
        tried = handled = 0
        for name, spec in FIELDS.items():
            field = app.query_one(f"#{name}")
            if field.disabled:
                continue
            for text in typed:
                before = len(notices(app))
                field.focus()
                field.value = text  # as typed (typing itself, key by key, is in the test above)
                await pilot.press("enter")
                await pilot.pause()
                tried += 1
                said = notices(app)[before:]
                value = app.main.n_predict if name == "n_predict" else getattr(app.main.settings.snapshot(), name)
                taken = field.value.strip() and float(field.value) == float(value)
                refused = len(said) == 1 and said[0].startswith(spec.label)
                handled += bool(refused or taken)
        assert tried > 100 and handled == tried


async def test_the_help_scrolls_to_its_legend(tmp_path):
    from textual.containers import VerticalScroll

    from workbench.app.dialogs import HelpScreen

    app = WorkbenchApp(LiveScreen(transcripts_dir=tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        scroll = app.screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0 and scroll.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroll.scroll_y > 0
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_a_preset_with_a_missing_model_changes_nothing(tiny_target, tmp_path, monkeypatch):
    from workbench import presets

    monkeypatch.setattr(presets, "user_presets_dir", lambda: tmp_path / "presets")
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "gone.toml").write_text(
        '[models]\ntarget = "no-such-model.gguf"\n[settings]\ndrafter = "suffix"\ndraft_max = 12\n')
    app = make_app(tiny_target, None, tmp_path, drafter="lookup", draft_max=4)
    async with run(app) as pilot:
        await settle(pilot)
        engine = app.main.engine
        app.main.apply_preset("gone")
        await settle(pilot)
        s = app.main.settings.snapshot()
        assert (s.drafter, s.draft_max) == ("lookup", 4) and app.main.engine is engine
        assert any("'no-such-model.gguf' not found; looked in:" in n and "WORKBENCH_MODELS" in n for n in notices(app))


async def test_nothing_hidden_repaints_so_expired_notifications_leave_the_screen(tmp_path):
    """The root of stale screens: a widget that is not on screen (the System tab behind another tab, a plot
    hidden by F9) asking for a repaint makes Textual's compositor rebuild its map, and the update of that
    frame (a toast expiring, the plots going away) was never painted. Nothing hidden may ask."""
    import scripted
    from textual.widgets._toast import Toast

    app = WorkbenchApp(LiveScreen(transcripts_dir=tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        app.main.view.feed(scripted.scripted_events())
        while app.main.view.plot_page != "none":  # plots hidden
            await pilot.press("f9")
        await pilot.pause(0.5)  # Textual's own one-off restyling is done
        compositor = app.screen._compositor
        offscreen: list = []  # widgets that asked for a repaint while not in the compositor's map
        real = compositor.update_widgets
        compositor.update_widgets = lambda widgets: (
            offscreen.extend(w for w in widgets if w is not app.screen and w not in compositor.visible_widgets),
            real(widgets))[1]
        app.main.view.feed(scripted.scripted_events())  # more data for the hidden plots
        app.notify("a short notice", timeout=0.5)
        await pilot.pause(2.2)  # the System panel's tab is hidden while it samples every second
        assert offscreen == []
        assert not app.screen.query(Toast)  # the notice expired and left


async def test_the_stream_wraps_at_word_boundaries():
    from textual.app import App

    from workbench.engine.events import TokenEvent

    class One(App):
        CSS = "TokenStream { width: 24; height: 10; padding: 0; scrollbar-size-vertical: 0; }"

        def compose(self):
            yield TokenStream(id="stream")

    pieces = [" The", " car", " was", " a", " big", " Chev", "rolet", " from", " nineteen", "-", "fifty", "."]
    app = One()
    async with app.run_test(size=(40, 12)) as pilot:
        stream = app.query_one(TokenStream)
        stream.add_tokens([TokenEvent(i, p, Source.TARGET, Fate.PLAIN, i, 0) for i, p in enumerate(pieces)])
        await pilot.pause()
        lines = stream.text.split("\n")
        assert all(len(line) <= 24 for line in lines)
        words = " ".join(lines).split()
        assert "Chevrolet" in words and "nineteen-fifty." in words, lines  # no word broken at a token boundary


async def test_an_unforeseen_error_keeps_the_transcript_and_says_one_line(tiny_target, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    app.main.n_predict = 30
    try:
        async with run(app) as pilot:
            await settle(pilot)
            await pilot.press("f2")
            await until(pilot, lambda: not app.main.running and app.main.transcript.done is not None)
            app.call_later(lambda: 1 / 0)  # a bug
            await pilot.pause(0.5)
    except ZeroDivisionError:
        pass  # run_test hands the app's exception on, for test frameworks
    assert app.return_code == 1
    saved = list((tmp_path / "transcripts").glob("*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["stats"]["n_predicted"] == 30
    logs = list((tmp_path / "data" / "workbench").glob("crash-*.log"))  # the traceback, for a bug report
    assert len(logs) == 1 and "ZeroDivisionError" in logs[0].read_text()


async def test_the_sidebar_shows_the_parameters_of_the_drafters_in_use_and_takes_a_chain(tiny_target, tmp_path):
    app = make_app(tiny_target, None, tmp_path, drafter="lookup")
    async with run(app) as pilot:
        await settle(pilot)
        shown = lambda name: app.query_one(f"#{name}").display  # noqa: E731
        assert shown("ngram") and not shown("mod_n_match") and not shown("chain")
        app.main.apply_setting("drafter", "ngram-mod")
        await pilot.pause()
        assert shown("mod_n_match") and shown("mod_n_min") and not shown("ngram") and not shown("p_min")
        app.main.apply_setting("drafter", "chain")
        await pilot.pause()
        field = app.query_one("#chain")
        assert shown("chain") and field.value == "ngram-mod,ngram-cache,draft"
        field.focus()
        field.value = "draft-simple, ngram-simple"
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.settings.snapshot().chain == "ngram-simple,draft"  # llama.cpp's order
        assert shown("simple_n") and not shown("mod_n_match") and shown("p_min")
        before = len(notices(app))
        field.value = "ngram-simple,eagle"
        await pilot.press("enter")
        await pilot.pause()
        said = notices(app)[before:]
        assert len(said) == 1 and "unknown drafter 'eagle' in the chain" in said[0]
        assert app.main.settings.snapshot().chain == "ngram-simple,draft"
