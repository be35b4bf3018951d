"""`workbench serve` over a real socket, driven by the official `openai` client: tiny models, a free loopback
port, the server in a subprocess as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parent.parent
LONG = 3000  # tokens: a generation that keeps the slot busy for seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, key: str | None = None) -> None:
        self.proc, self.port, self.log, self.key = proc, port, log, key
        self.url = f"http://127.0.0.1:{port}"
        self.client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key or "none", max_retries=0, timeout=60)

    def post(self, path: str, content: bytes | str | None = None, headers: dict | None = None,
             timeout: float = 60) -> httpx.Response:
        h = {"Content-Type": "application/json", **({"Authorization": f"Bearer {self.key}"} if self.key else {}),
             **(headers or {})}
        return httpx.post(self.url + path, content=content, headers=h, timeout=timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def start(target: Path, tmp: Path, *flags: str, key: str | None = None, draft: Path | None = None) -> Served:
    port = free_port()
    log = tmp / f"traffic-{port}.jsonl"
    cmd = [sys.executable, "-m", "workbench.cli", "serve", "-m", str(target), "-c", "4096", "-t", "1",
           "--port", str(port), "--log", str(log), *(["-md", str(draft)] if draft else []), *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_API_KEY": key or ""}
    errors = tmp / f"stderr-{port}.txt"  # a file, not a pipe nobody reads (it would fill and block the server)
    with errors.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stderr=err, text=True)
    served = Served(proc, port, log, key)
    served.errors = errors
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server ended: {errors.read_text()}")
        try:
            if httpx.get(served.url + "/health", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not start")


@pytest.fixture(scope="module")
def server(tiny_target: Path, tiny_draft: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = start(tiny_target, tmp_path_factory.mktemp("serve"), "--queue", "1", draft=tiny_draft)
    yield s
    assert s.stop() == 128 + signal.SIGTERM


MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the model token draft"}]


def streamed(stream) -> tuple[str, dict]:
    text, last = "", None
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0]
            text += (delta.delta.content or "") if hasattr(delta, "delta") else (delta.text or "")
        last = chunk
    return text, last.model_dump()


def test_models_and_health(server: Served):
    models = server.client.models.list()
    assert [m.id for m in models.data] == ["tiny-target"]
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_chat_streamed_equals_whole(server: Served):
    whole = server.client.chat.completions.create(model="x", messages=MESSAGES, max_tokens=40, temperature=0)
    text = whole.choices[0].message.content
    extra = whole.model_extra
    assert whole.usage.completion_tokens == extra["timings"]["predicted_n"] == 40
    assert whole.choices[0].finish_reason == "length"
    assert extra["timings"]["draft_n"] == extra["workbench"]["drafted"]
    assert extra["timings"]["draft_n_accepted"] == extra["workbench"]["accepted"]
    assert extra["workbench"]["drafter"] == "draft" and extra["workbench"]["settings"]["temperature"] == 0
    got, last = streamed(server.client.chat.completions.create(model="x", messages=MESSAGES, max_tokens=40,
                                                               temperature=0, stream=True))
    assert got == text
    assert last["usage"]["completion_tokens"] == last["timings"]["predicted_n"] == 40
    assert last["timings"]["draft_n"] == last["workbench"]["drafted"]
    by_drafter = last["workbench"]["by_drafter"]
    assert sum(d["drafted"] for d in by_drafter.values()) == last["workbench"]["drafted"]


def test_completions_and_stop_sequences(server: Served):
    full = server.client.completions.create(model="x", prompt="the model", max_tokens=30, temperature=0)
    text = full.choices[0].text
    assert full.usage.prompt_tokens > 0 and full.usage.completion_tokens == 30
    stop = text[len(text) // 2:len(text) // 2 + 3]
    assert stop.strip()
    cut = server.client.completions.create(model="x", prompt="the model", max_tokens=30, temperature=0, stop=[stop])
    assert cut.choices[0].text == text[:text.index(stop)]
    assert cut.choices[0].finish_reason == "stop" and cut.model_extra["workbench"]["stop_reason"] == "stop"
    got, last = streamed(server.client.completions.create(model="x", prompt="the model", max_tokens=30,
                                                          temperature=0, stop=stop, stream=True))
    assert got == text[:text.index(stop)]
    assert last["workbench"]["stop_reason"] == "stop"


def test_seed_reproduces_at_temperature(server: Served):
    def sample(seed: int) -> str:
        r = server.client.chat.completions.create(model="x", messages=MESSAGES, max_tokens=24, temperature=0.9,
                                                  seed=seed, extra_body={"top_k": 20})
        assert r.model_extra["workbench"]["settings"]["top_k"] == 20
        return r.choices[0].message.content

    first = sample(7)
    assert sample(7) == first
    assert any(sample(s) != first for s in (8, 9, 10))


BAD = [  # (body, extra headers, status, param or None)
    (b"{not json", {}, 400, None),
    (b"\xff\xfe{}", {}, 400, None),
    (b"[1, 2]", {}, 400, None),
    (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', {}, 400, None),
    (json.dumps({"messages": []}), {}, 400, "messages"),
    (json.dumps({}), {}, 400, "messages"),
    (json.dumps({"messages": "hi"}), {}, 400, "messages"),
    (json.dumps({"messages": [{"role": "wizard", "content": "hi"}]}), {}, 400, "messages[0].role"),
    (json.dumps({"messages": [{"role": "user", "content": 5}]}), {}, 400, "messages[0].content"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "temperature": 9}), {}, 400, "temperature"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}), {}, 400, "temperature"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "top_p": -0.1}), {}, 400, "top_p"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}), {}, 400, "max_tokens"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": True}), {}, 400, "max_tokens"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "n": 2}), {}, 400, "n"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "stop": 3}), {}, 400, "stop"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}), {}, 400, "tools"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "bogus": 1}), {}, 400, "bogus"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}), {}, 400, "stream"),
    (json.dumps({"messages": [{"role": "user", "content": "the " * 5000}]}), {}, 400, "messages"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), {"Content-Type": "text/plain"}, 415, None),
    (b"{" + b" " * (1 << 20) + b"}", {}, 413, None),
]


@pytest.mark.parametrize("body, headers, status, param", BAD, ids=range(len(BAD)))
def test_bad_request(server: Served, body, headers, status, param):
    r = server.post("/v1/chat/completions", body, headers)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if param:
        assert error["param"] == param


def test_bad_completion_and_routes(server: Served):
    for body, param in ((json.dumps({"prompt": 5}), "prompt"), (json.dumps({"prompt": ""}), "prompt"),
                        (json.dumps({"prompt": "x", "seed": -1}), "seed"), (json.dumps({"prompt": "x", "top_k": 1.5}), "top_k")):
        r = server.post("/v1/completions", body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    assert httpx.get(server.url + "/v1/chat/completions").status_code == 405
    r = httpx.get(server.url + "/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # and it still answers
    r = server.client.completions.create(model="x", prompt="the", max_tokens=3)
    assert r.usage.completion_tokens == 3
    # max_tokens beyond the context is capped at what it holds
    r = server.post("/v1/completions", json.dumps({"prompt": "the", "max_tokens": 10**9, "stop": ["the"]}))
    assert r.status_code == 200


def test_metrics(server: Served):
    server.client.completions.create(model="x", prompt="the model", max_tokens=20, temperature=0)
    text = httpx.get(server.url + "/metrics").text
    for name in ("llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total", "llamacpp:requests_processing",
                 'llamacpp:spec_decode_num_draft_tokens_total{drafter="draft"}',
                 'llamacpp:spec_decode_num_accepted_tokens_per_pos_total{drafter="draft",position="0"}',
                 'workbench:requests_total{endpoint="/v1/completions",status="200"}'):
        assert name in text, name


def test_disconnect_frees_the_slot_and_full_queue_refused(server: Served):
    """A long stream holds the slot; with --queue 1 one request waits and the next is refused with 503 and
    Retry-After; closing the stream stops its generation and the waiting request is answered."""
    stream = server.client.completions.create(model="x", prompt="the", max_tokens=LONG, stream=True)
    next(iter(stream))  # it runs
    answers: list = []
    waiting = threading.Thread(target=lambda: answers.append(
        server.client.completions.create(model="x", prompt="the", max_tokens=5)))
    waiting.start()
    deadline = time.monotonic() + 10
    while httpx.get(server.url + "/health").json()["queued"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    r = server.post("/v1/completions", json.dumps({"prompt": "the", "max_tokens": 5}))
    assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "queue_full"
    started = time.monotonic()
    stream.close()
    waiting.join(30)
    assert answers and answers[0].usage.completion_tokens == 5
    assert time.monotonic() - started < 5  # not the seconds the long generation would have taken
    lines = [json.loads(line) for line in server.log.read_text().splitlines()]
    assert any(row["workbench"]["stop_reason"] == "disconnected" for row in lines)


def test_traffic_log(server: Served):
    server.client.chat.completions.create(model="x", messages=MESSAGES, max_tokens=8, temperature=0)
    row = json.loads(server.log.read_text().splitlines()[-1])
    assert row["kind"] == "workbench-traffic" and row["endpoint"] == "chat" and row["messages"] == MESSAGES
    assert row["usage"]["completion_tokens"] == 8 and row["workbench"]["settings"]["drafter"] == "draft"
    assert row["output"]


def test_api_key_and_sigterm_while_streaming(tiny_target: Path, tmp_path: Path):
    s = start(tiny_target, tmp_path, key="sesame")
    try:
        assert httpx.get(s.url + "/health").status_code == 200  # no key needed
        for path in ("/v1/models", "/metrics"):
            assert httpx.get(s.url + path).status_code == 401
            assert httpx.get(s.url + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = httpx.post(s.url + "/v1/completions", json={"prompt": "the"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert s.client.models.list().data
        stream = s.client.completions.create(model="x", prompt="the", max_tokens=LONG, stream=True)
        chunks = iter(stream)
        next(chunks)
        s.proc.send_signal(signal.SIGTERM)
        rest = list(chunks)  # the stream ends cleanly: a last chunk, then [DONE]
        assert rest[-1].choices[0].finish_reason == "length"
        assert rest[-1].model_extra["workbench"]["stop_reason"] == "shutdown"
        assert s.proc.wait(30) == 128 + signal.SIGTERM
        row = json.loads(s.log.read_text().splitlines()[-1])
        assert row["workbench"]["stop_reason"] == "shutdown"
        assert row["usage"]["completion_tokens"] < LONG
    finally:
        s.stop()


def test_traffic_log_replays_as_a_suite(server: Served, tiny_target: Path, tiny_draft: Path):
    """bench -f traffic.jsonl: the served requests, in order, as a suite (through the same chat template)."""
    from workbench import suites
    from workbench.engine.models import Model

    server.client.chat.completions.create(model="x", messages=MESSAGES, max_tokens=4)
    rows = [json.loads(line) for line in server.log.read_text().splitlines()]
    assert suites.is_traffic(server.log) and not suites.is_traffic(ROOT / "pyproject.toml")
    model = Model(tiny_target)
    try:
        stream = suites.replay(server.log, model.chat_messages)
        assert isinstance(stream, suites.RequestStream) and isinstance(stream[:2], suites.RequestStream)
        assert len(stream) == len(rows)
        assert [p for p, r in zip(stream, rows, strict=True) if r["endpoint"] == "completion"] == [
            r["prompt"] for r in rows if r["endpoint"] == "completion"]
        assert model.chat_messages(MESSAGES) in stream
    finally:
        model.close()
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "bench", "-m", str(tiny_target), "-t", "1", "-c", "1024",
                          "-f", str(server.log), "--drafters", "none,suffix", "--k", "4", "--repeat", "1", "-n", "8"],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"{len(rows)} prompts x 8 tokens" in out.stdout


def test_time_limit(tiny_target: Path, tmp_path: Path):
    # 0.2 s: the tiny model decodes 6000+ tokens/s on a quiet machine, and at 0.5 s it once finished all LONG tokens
    s = start(tiny_target, tmp_path, "--timeout", "0.2")
    try:
        r = s.client.completions.create(model="x", prompt="the", max_tokens=LONG)
        assert r.choices[0].finish_reason == "length" and r.model_extra["workbench"]["stop_reason"] == "timeout"
        assert 0 < r.usage.completion_tokens < LONG
        got, last = streamed(s.client.completions.create(model="x", prompt="the", max_tokens=LONG, stream=True))
        assert last["workbench"]["stop_reason"] == "timeout" and last["usage"]["completion_tokens"] < LONG
    finally:
        assert s.stop() == 128 + signal.SIGTERM
