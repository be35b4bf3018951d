"""The demo for an audience: it goes round its prompts, shows plain decoding while measuring it, and says the
baseline and the agreement in the stream instead of over the plots."""

from __future__ import annotations

from test_app import OPTIONS, run, settle, until

from workbench.app.app import WorkbenchApp
from workbench.app.screens import live
from workbench.app.screens.live import LiveScreen, Opening
from workbench.app.widgets.stream import TokenStream
from workbench.engine.settings import Settings


async def test_the_demo_goes_round_its_prompts(tiny_target, tmp_path, monkeypatch):
    monkeypatch.setattr(live, "LOOP_PAUSE", 0.1)
    prompts = ("the model is fast and the draft is slow", "the draft is slow and the model is fast")
    screen = LiveScreen(Settings(drafter="lookup"), prompt=prompts[0], n_predict=20, load_options=OPTIONS,
                        transcripts_dir=tmp_path, opening=Opening(str(tiny_target), autostart=True, loop=prompts))
    seen: list[str] = []
    marks: list[str] = []
    plain_tokens: list[object] = []
    real_mark, real_tokens = TokenStream.add_marker, TokenStream.add_tokens

    def mark(self, text: str, between_words: bool = False) -> None:
        marks.append(text)
        real_mark(self, text, between_words)

    def tokens(self, events: list) -> None:
        if screen.measuring:
            plain_tokens.extend(events)
        real_tokens(self, events)

    monkeypatch.setattr(TokenStream, "add_marker", mark)
    monkeypatch.setattr(TokenStream, "add_tokens", tokens)
    app = WorkbenchApp(screen)
    async with run(app) as pilot:
        # plain decoding first, on screen while it is measured: its marker, then its tokens
        await until(pilot, lambda: screen.plot_data.baseline is not None)
        assert marks[0].startswith("first plain decoding") and plain_tokens
        for i in range(3):  # the first prompt's run, then the second's, then the first's again
            await until(pilot, lambda: screen.running and not screen.measuring and screen.view.prompt.text not in seen[-1:],
                        timeout=60)
            seen.append(screen.view.prompt.text)
            if i == 0:  # the baseline, said where the eye is, at the start of the run it measured for
                assert "plain decoding measured:" in app.query_one(TokenStream).text
        assert seen == [prompts[0], prompts[1], prompts[0]]
        assert screen.view.query_one("#big-speedup").display  # the speedup in large digits
        screen.n_predict = 4000
        await until(pilot, lambda: not screen.running)
        await pilot.press("f2")
        await until(pilot, lambda: screen.running and len(screen.transcript.steps) > 2)
        await pilot.press("f3")  # a stopped run ends the loop
        await settle(pilot)
        await pilot.pause(0.5)
        assert screen.transcript.done.reason == "stopped" and not screen.running
