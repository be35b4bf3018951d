"""Every number on screen is true after every key: the status line's tok/s and speedup, and the tokens/s plot,
checked against the events of the run on screen, whatever order F2/F3/F4/F5/F6 come in."""

from __future__ import annotations

import re

from test_app import make_app, run, settle, until

from workbench.app import run_view
from workbench.app.run_view import status_line
from workbench.engine.events import DoneEvent, Event, PromptEvent, Source, StepEvent
from workbench.engine.settings import Settings
from workbench.engine.stats import Stats
from workbench.engine.transcript import Transcript


def step(n: int, emitted: int, time: float, drafted: int = 0, accepted: int = 0) -> StepEvent:
    return StepEvent(n, Source.LOOKUP if drafted else Source.TARGET, drafted, drafted, accepted, emitted, 0.0, 0.0, time)


def test_a_continuation_carries_the_runs_figures_on():
    s = Stats()
    for e in (PromptEvent(10, 0.1), step(0, 3, 1.0, 2, 2), step(1, 1, 2.0), DoneEvent("stopped", "")):
        s.update(e)
    assert (s.n_emitted, s.elapsed, s.tokens_per_second) == (4, 2.0, 2.0)
    # F4: the next segment's step times start from 0 again; they are laid after the first segment's 2 s
    for e in (PromptEvent(0, 0.0), step(2, 2, 0.5), step(3, 2, 1.0), DoneEvent("n_predict", "")):
        s.update(e)
    assert (s.n_emitted, s.elapsed, s.tokens_per_second) == (8, 3.0, 8 / 3)
    assert s.rolling().tokens_per_second == (1 + 2 + 2) / (3.0 - 1.0)  # the window spans both segments


def test_a_continuation_that_generates_nothing_changes_nothing():
    s = Stats()
    for e in (step(0, 5, 1.0, 4, 4), DoneEvent("n_predict", "")):
        s.update(e)
    before = s.to_json()
    # the end-of-generation token came first: a step that emitted nothing
    for e in (PromptEvent(0, 0.0), StepEvent(1, Source.LOOKUP, 4, 4, 0, 0, 0.0, 0.001, 0.001), DoneEvent("eos", "")):
        s.update(e)
    assert s.to_json() == before


def test_nothing_known_reads_as_a_question_mark():
    empty = status_line(Settings(drafter="lookup"), Stats(), "idle", baseline=30.0)
    assert "tok/s=? speedup=? plain=30.0 idle" in empty and "acc=? " in empty and "len=?" in empty
    assert "speedup=? idle" in status_line(Settings(), Stats(), "idle")


class KeptTranscript(Transcript):
    """A transcript that keeps every event it was given, to check the figures against."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def add(self, event: Event) -> None:
        self.events.append(event)
        super().add(event)


def expected(events: list[Event]) -> tuple[int, float]:
    """Tokens generated and decoding seconds of the run on screen, from its events: each segment (a run, or F4's
    continuation of it) counts up to its last emitted token; the time between segments does not count."""
    tokens, seconds, last = 0, 0.0, 0.0
    for e in events:
        if isinstance(e, StepEvent) and e.emitted:
            tokens, last = tokens + e.emitted, e.time
        elif isinstance(e, DoneEvent):
            seconds, last = seconds + last, 0.0
    return tokens, seconds + last


def every_ordered_pair(keys: list[str]) -> list[str]:
    """A key sequence in which every key follows every key (itself included): a de Bruijn sequence of order 2."""
    k, a, out = len(keys), [0] * 4, []

    def db(t: int, p: int) -> None:
        if t > 2:
            if 2 % p == 0:
                out.extend(a[1:p + 1])
            return
        a[t] = a[t - p]
        db(t + 1, p)
        for j in range(a[t - p] + 1, k):
            a[t] = j
            db(t + 1, t)

    db(1, 1)
    return [keys[i] for i in [*out, out[0]]]


def check_figures(app) -> None:
    screen = app.main
    events = screen.transcript.events
    tokens, seconds = expected(events)
    line = screen.status_line()
    baseline = screen.plot_data.baseline
    if tokens:
        rate = tokens / seconds
        assert f"tok/s={rate:.1f} " in line, (line, tokens, seconds)
        assert (f"speedup={rate / baseline:.2f}x" if baseline else "speedup=?") in line, line
        assert f"tokens={tokens}" in line
        xs = [x for x, _ in screen.plot_data.rate]
        assert xs == sorted(xs) and xs[-1] == round(seconds, 3)  # the plot's clock is the run's clock
    else:
        assert "tok/s=? speedup=?" in line and "tokens=0" in line, line
        assert not screen.plot_data.rate


async def test_the_figures_match_the_events_after_every_key_in_every_order(tiny_target, tmp_path, monkeypatch):
    monkeypatch.setattr(run_view, "Transcript", KeptTranscript)
    keys = every_ordered_pair(["f2", "f3", "f4", "f5", "f6"])
    assert len(keys) == 26 and {(a, b) for a, b in zip(keys, keys[1:], strict=False)} == {
        (a, b) for a in keys for b in keys}
    app = make_app(tiny_target, None, tmp_path, drafter="lookup", draft_max=4)
    async with run(app) as pilot:
        await settle(pilot)
        screen = app.main
        for key, after in zip(keys, [*keys[1:], ""], strict=True):
            stop_next = key in ("f2", "f4") and after in ("f3", "f6")
            screen.n_predict = 4000 if stop_next else 24  # a run the next key stops, or one that ends by itself
            steps = len(screen.transcript.steps)
            await pilot.press(key)
            if stop_next:  # let it generate a little, then the next key lands mid-run
                await until(pilot, lambda s=steps: len(screen.transcript.steps) >= s + 3 or not screen.running)
                continue
            await settle(pilot)
            screen.view.drain()
            check_figures(app)
        assert re.search(r"tokens=\d+", screen.status_line())


async def test_a_replay_shows_the_recorded_baselines_speedup(tmp_path):
    from workbench.app.app import WorkbenchApp
    from workbench.app.screens.replay import ReplayScreen
    from workbench.engine.record import Recorder, load

    def recording(name: str, baseline: float | None) -> tuple:
        path = tmp_path / name
        header = {"prompt": "p", "models": {}, "settings": {}} | ({"baseline": baseline} if baseline else {})
        r = Recorder(path, header)
        for e in (step(0, 4, 0.5, 3, 3), step(1, 4, 1.0, 3, 3), DoneEvent("n_predict", "")):
            r.add(e)
        r.close()
        return load(path)

    for baseline, want in ((4.0, "speedup=2.00x plain=4.0"), (None, "speedup=?")):
        header, events = recording(f"r{baseline}.jsonl", baseline)
        screen = ReplayScreen(header, events, speed=1000.0)
        async with WorkbenchApp(screen).run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda s=screen: s.clock.finished and not s.view.pending)
            await pilot.pause(0.2)
            assert want in screen.status_line()


def test_an_agreement_claims_only_what_the_baseline_covered():
    from workbench.engine.agreement import compare

    assert compare([1, 2, 3], [1, 2, 3, 4, 5]).describe() == (
        "first 3 tokens identical to plain decoding (of 5: plain decoding was measured that far)")
    assert compare([1, 2, 3], [1, 2, 3]).describe() == "identical to plain decoding (all 3 tokens)"
    assert compare([1, 2, 3], [1, 9, 3, 4]).describe().startswith("differs from plain decoding from token 1 on")
