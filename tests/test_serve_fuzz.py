"""Property-based fuzz of `workbench serve`'s two POST endpoints (hypothesis): whatever the JSON body, the answer
is a 200 or an OpenAI-style 4xx error, within a bounded time, and the server is alive at the end. A small
context (-c 64) keeps each generation short, so a few hundred bodies take seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_serve import Served, start

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
small_ints = st.integers(-3, 12)
message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool", "developer"]),
                           "content": st.text(max_size=40)}),
    st.dictionaries(st.sampled_from(["role", "content", "name"]), json_values, max_size=3))
common = {
    "model": st.one_of(st.just("x"), json_values),
    "max_tokens": st.one_of(small_ints, json_values),
    "temperature": st.one_of(st.floats(-1, 6), json_values),
    "top_p": st.one_of(st.floats(-0.5, 1.5), json_values),
    "top_k": st.one_of(small_ints, json_values),
    "seed": st.one_of(st.integers(-5, 2**33), json_values),
    "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=6), json_values),
    "stream": st.one_of(st.booleans(), json_values),
    "n": st.one_of(st.integers(0, 3), json_values),
    "forget": st.one_of(st.booleans(), json_values),
    "stream_options": st.one_of(st.just({"include_usage": True}), json_values),
    "logit_bias": json_values,
    st.text(max_size=10): json_values,
}
chat_bodies = st.fixed_dictionaries({}, optional={
    "messages": st.one_of(st.lists(message, max_size=4), json_values), "max_completion_tokens": small_ints,
    **{k: v for k, v in common.items() if isinstance(k, str)}})
completion_bodies = st.fixed_dictionaries({}, optional={
    "prompt": st.one_of(st.text(max_size=60), st.lists(st.text(max_size=10), max_size=2), json_values),
    **{k: v for k, v in common.items() if isinstance(k, str)}})
unknown_keys = st.dictionaries(st.text(max_size=10), json_values, max_size=2)

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def small(tiny_target: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = start(tiny_target, tmp_path_factory.mktemp("fuzz"), "-c", "64", "--queue", "2")
    yield s
    s.stop()


def check(server: Served, path: str, body: bytes) -> None:
    r = server.post(path, body, timeout=30)  # a hang fails here
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        if r.headers["content-type"].startswith("text/event-stream"):
            assert r.text.rstrip().endswith("data: [DONE]")
        else:
            assert r.json()["choices"]
    else:
        assert 400 <= r.status_code < 500
        error = r.json()["error"]
        assert isinstance(error["message"], str) and error["message"]


@FUZZ
@given(body=chat_bodies, extra=unknown_keys)
def test_chat_bodies(small: Served, body: dict, extra: dict):
    check(small, "/v1/chat/completions", json.dumps({**extra, **body}).encode())


@FUZZ
@given(body=completion_bodies, extra=unknown_keys)
def test_completion_bodies(small: Served, body: dict, extra: dict):
    check(small, "/v1/completions", json.dumps({**extra, **body}).encode())


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(raw=st.binary(max_size=200))
def test_raw_bytes(small: Served, raw: bytes):
    check(small, "/v1/completions", raw)


def test_alive_after_fuzz(small: Served):
    r = small.client.completions.create(model="x", prompt="the", max_tokens=4)
    assert r.usage.completion_tokens == 4
    assert httpx.get(small.url + "/health").json()["status"] == "ok"


def test_a_context_smaller_than_the_batch(tiny_target: Path):
    """-c 64 with the default -b 512: llama.cpp takes a batch of 64 and aborts the process on a longer one; a
    100-token prompt and a 65-token verify batch must be evaluated in batches it accepts."""
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    engine = Engine.load(tiny_target, options=LoadOptions(n_ctx=64, n_threads=1))
    try:
        assert engine.target.n_batch <= 64
        t = engine.generate(list(range(300, 400)), 8, drafter="none")
        assert t.stats.n_emitted == 8
        target = engine.target
        target.truncate(0)
        whole = [r.copy() for r in target.eval(list(range(300, 370)), logits="all")]
        target.truncate(0)
        assert all((a == b).all() for a, b in zip(whole[:64], [r.copy() for r in target.eval(list(range(300, 364)),
                                                                                              logits="all")],
                                                   strict=True))
    finally:
        engine.close()
