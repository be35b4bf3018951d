"""Recording a session and replaying it without a model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from textual.notifications import Notify

from workbench.app.app import WorkbenchApp
from workbench.app.screens.replay import ReplayScreen
from workbench.app.widgets.stream import TokenStream
from workbench.engine.errors import WorkbenchError
from workbench.engine.events import StepEvent
from workbench.engine.record import load
from workbench.engine.transcript import Transcript

PROMPT = "the model is fast and the draft is slow and the model is"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def recording(tiny_target, tiny_draft, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rec")
    rec, out = folder / "session.jsonl", folder / "run.json"
    r = cli("run", "--headless", "-m", str(tiny_target), "-md", str(tiny_draft), "--drafter", "draft", "--draft-max", "4",
            "-n", "40", "-p", PROMPT, "--record", str(rec), "--json", str(out))
    assert r.returncode == 0, r.stderr
    return rec, json.loads(out.read_text())


def test_a_recording_round_trips(recording):
    rec, run = recording
    header, events = load(rec)
    assert header["prompt"] == PROMPT and header["settings"]["drafter"] == "draft"
    t = Transcript()
    for _, event in events:
        t.add(event)
    assert t.text == run["text"]
    assert [tok.to_json() for tok in t.tokens] == run["tokens"]
    for key in ("n_predicted", "n_drafted", "n_accepted", "acceptance", "mean_accepted_length", "tokens_per_second"):
        assert t.stats.to_json()[key] == pytest.approx(run["stats"][key])
    times = [time for time, _ in events]
    assert times == sorted(times)


async def test_replay_in_the_app_reproduces_stream_and_stats(recording):
    rec, run = recording
    header, events = load(rec)
    app = WorkbenchApp(ReplayScreen(header, events, speed=100.0, name=str(rec)))
    seen: list[str] = []
    hook = lambda m: isinstance(m, Notify) and seen.append(str(m.notification.message))  # noqa: E731
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        while app.main.running:
            await pilot.pause(0.05)
        assert app.main.engine is None
        assert app.main.transcript.text == run["text"]
        assert app.main.transcript.stats.n_accepted == run["stats"]["n_accepted"]
        assert app.main.transcript.stats.tokens_per_second == pytest.approx(run["stats"]["tokens_per_second"])
        await pilot.press("f7")  # rejected drafts too (hidden by default, the text reads as prose)
        shown = app.query_one(TokenStream).text.replace("\n", "")
        assert all(tok["piece"].strip() in shown for tok in run["tokens"][:10])
        await pilot.press("f2")  # no model: refused with a message
        assert any("this is a replay" in n for n in seen)


async def test_replay_pauses_and_steps(recording):
    rec, _ = recording
    header, events = load(rec)
    app = WorkbenchApp(ReplayScreen(header, events, speed=0.05))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("space")  # pause
        steps = len(app.main.transcript.steps)
        await pilot.press("n")
        await pilot.pause()
        assert len(app.main.transcript.steps) == steps + 1
        await pilot.press("n", "n")
        await pilot.pause()
        assert len(app.main.transcript.steps) == steps + 3 and app.main.clock.paused


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("hello\n", "not a workbench recording"),
    ('{"format": "something-else"}\n', "no workbench-record header"),
    ('{"format": "workbench-record", "version": 99}\n', "version 99"),
])
def test_bad_recordings_are_refused(tmp_path, content, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    with pytest.raises(WorkbenchError, match=message):
        load(p)


def test_damaged_and_truncated_recordings(recording, tmp_path):
    rec, _ = recording
    lines = rec.read_text().splitlines()
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([*lines[:5], '{"type": "token", "t": 1}', *lines[5:]]) + "\n")
    with pytest.raises(WorkbenchError, match="line 6 is damaged"):
        load(damaged)
    truncated = tmp_path / "truncated.jsonl"
    text = rec.read_text()
    truncated.write_text(text[: len(text) - 7])
    with pytest.raises(WorkbenchError, match="cut off"):
        load(truncated)
    # replay keeps what is intact and says where it stops (the app shows the same line)
    partial = load(truncated, partial=True)
    assert "cut off" in partial.problem and len(partial.events) == len(load(rec).events) - 1
    r = cli("replay", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 1 and "no such recording" in r.stderr


def test_the_replay_clock_keeps_the_recorded_pace():
    from workbench.app.replay_clock import ReplayClock
    from workbench.engine.events import NoticeEvent, Source, StepEvent

    step = StepEvent(0, Source.TARGET, 0, 0, 0, 1, 0.0, 0.01, 0.1)
    events = [(0.0, NoticeEvent("a")), (0.5, step), (1.0, NoticeEvent("b")), (2.0, step)]
    clock = ReplayClock(events, speed=2.0)
    assert clock.tick(0.1) == [events[0][1]]  # 0.2 s of recording played
    assert clock.tick(0.2) == [step]  # 0.6 s
    clock.toggle_pause()
    assert clock.tick(10) == []  # paused
    assert clock.step() == [events[2][1], step] and clock.finished and clock.paused
    assert clock.change_speed(1000) == 100.0
    clock.restart()
    assert (clock.position, clock.paused, clock.finished) == (0, False, False)


async def test_a_damaged_recording_replays_up_to_the_damage_and_says_so(recording, tmp_path):
    rec, _ = recording
    text = rec.read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) - 7])
    recorded = load(cut, partial=True)
    app = WorkbenchApp(ReplayScreen(recorded.header, recorded.events, speed=100.0, problem=recorded.problem))
    seen: list[str] = []
    hook = lambda m: isinstance(m, Notify) and seen.append(str(m.notification.message))  # noqa: E731
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        while app.main.running:
            await pilot.pause(0.05)
        assert any("cut off" in n for n in seen)
        assert len(app.main.transcript.steps) == sum(isinstance(e, StepEvent) for _, e in recorded.events) > 0


async def test_a_replay_shows_the_recorded_settings_and_its_state(tiny_target, tiny_draft, tmp_path):
    from textual.widgets import Select

    rec = tmp_path / "auto.jsonl"
    r = cli("run", "--headless", "-m", str(tiny_target), "-md", str(tiny_draft), "--drafter", "draft", "--draft-max",
            "auto", "-n", "30", "-p", PROMPT, "--record", str(rec))
    assert r.returncode == 0, r.stderr
    recorded = load(rec)
    # slow enough that the ~10 ms recording cannot finish before the test pauses it, even on a busy machine
    app = WorkbenchApp(ReplayScreen(recorded.header, recorded.events, speed=0.001))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        replay = app.main
        assert app.query_one("#drafter", Select).value == "draft"
        assert "drafter=draft" in replay.status_line() and "K=auto<=32" in replay.status_line()
        await pilot.press("space")
        assert " paused " in replay.status_line()
        while not replay.clock.finished:
            await pilot.press("n")
        await pilot.pause()
        assert " finished (r restarts) " in replay.status_line() and not replay.running
        steps = len(replay.transcript.steps)
        await pilot.press("r")
        assert replay.transcript.steps == [] and not replay.clock.finished
        replay.clock.change_speed(1000)
        while replay.running:
            await pilot.pause(0.05)
        assert len(replay.transcript.steps) == steps  # played again, whole


async def test_opening_a_replay_warns_of_nothing_and_a_changed_setting_is_refused(tmp_path):
    """The sidebar's own reports (each Select says its value when it mounts, a field left unchanged) ask for
    nothing, so they bring no "this is a replay" warning; a value the user changes does, and is put back."""
    from scripted import draft_recording
    from textual.widgets import Input, Select

    recorded = load(draft_recording(tmp_path))
    app = WorkbenchApp(ReplayScreen(recorded.header, recorded.events, speed=0.05))
    seen: list[str] = []
    hook = lambda m: isinstance(m, Notify) and seen.append(str(m.notification.message))  # noqa: E731
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await pilot.pause(0.3)
        assert app.query_one("#drafter", Select).value == "draft" and seen == []
        field = app.query_one("#temperature", Input)
        field.focus()
        await pilot.pause()
        app.query_one(TokenStream).focus()  # left as it was
        await pilot.pause()
        assert seen == []
        field.focus()
        field.value = "0.7"
        await pilot.press("enter")
        await pilot.pause()
        assert any("this is a replay" in n for n in seen) and field.value == "0.00"
        app.query_one(TokenStream).focus()  # leaving the field put back asks nothing again
        await pilot.pause()
        assert sum("this is a replay" in n for n in seen) == 1
