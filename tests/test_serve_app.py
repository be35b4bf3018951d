"""The app's server mode (`workbench serve --tui`) in a Textual pilot: a request sent with the official openai
client shows in the request log and streams into the stream view; a sidebar change reaches the next request."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from pathlib import Path

import openai
from test_app import until

from workbench.app.app import WorkbenchApp
from workbench.app.screens.serve import ServeScreen
from workbench.app.widgets.requests import RequestLog
from workbench.app.widgets.stream import TokenStream
from workbench.engine.models import LoadOptions
from workbench.engine.session import Engine
from workbench.engine.settings import LiveSettings
from workbench.serve.command import Server, start_thread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_request_shows_in_the_log_and_streams(tiny_target: Path, tiny_draft: Path, tmp_path: Path):
    engine = Engine.load(tiny_target, tiny_draft, LoadOptions(n_ctx=1024, n_threads=1))
    settings = LiveSettings(drafter="draft")
    args = argparse.Namespace(host="127.0.0.1", port=free_port(), queue=2, timeout=None, log=str(tmp_path / "t.jsonl"))
    server = Server.build(engine, settings, args, None)
    address = start_thread(server, args)
    screen = ServeScreen(server, engine.target.chat_prompt("the model token"), address)
    app = WorkbenchApp(screen)
    client = openai.AsyncOpenAI(base_url=address, api_key="none", max_retries=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.main.plot_data.baseline is not None)  # plain decoding, measured at start
        reply = await client.completions.create(model="x", prompt="the model token draft", max_tokens=30,
                                                temperature=0)
        text = reply.choices[0].text
        await until(pilot, lambda: app.main.served == 1)
        log = app.main.query_one(RequestLog)
        assert log.row_count == 1
        row = log.get_row_at(0)
        assert row[2] == str(reply.usage.prompt_tokens) and row[3] == "30" and row[6] == "draft"
        assert row[5].endswith("x")  # a speedup against the measured plain rate
        stream = app.main.query_one(TokenStream)
        assert "request 1" in stream.text.replace("\n", "")
        assert app.main.transcript.text == text  # the request's tokens went through the stream view
        assert sum(len(s[0]) for s in stream.spans) >= len(text)

        # the sidebar edits the server's settings: the next request runs with them
        assert app.main.apply_setting("draft_max", "3")
        second = await client.chat.completions.create(model="x", messages=[{"role": "user", "content": "the"}],
                                                      max_tokens=10)
        assert second.model_extra["workbench"]["settings"]["draft_max"] == 3
        await until(pilot, lambda: app.main.served == 2)
        assert log.row_count == 2 and "K=3" in log.get_row_at(1)[7]
        assert log.cursor_row == 1  # the latest request is the highlighted one
        await pilot.press("ctrl+q")
    await client.close()
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [row["endpoint"] for row in lines] == ["completion", "chat"]
    assert not server.thread.is_alive()
    await asyncio.sleep(0)
