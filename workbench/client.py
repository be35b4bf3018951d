"""The one client of the OpenAI API: everything in the workbench that sends requests to a server goes through it
(`deploy-check`, `bench --against URL`, the tests), whether the server is llama-server, the workbench's own or
another OpenAI-compatible one.

Requests go through the official `openai` package; llama-server's own endpoints (`/health`, `/metrics`) through
httpx, which the package is built on. llama-server adds a `timings` object to each response (tokens and time
after prompt processing, and when it speculated, `draft_n` and `draft_n_accepted`): `Reply.timings` holds it, None
when the server sends none. Every failure to reach or understand a server is one WorkbenchError line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from .engine.errors import WorkbenchError

MAX_METRICS_BYTES = 1 << 20  # a /metrics page is a few kB; a server that sends more is not read further


@dataclass(frozen=True)
class Timings:
    """llama-server's `timings` of one response (server-common.cpp: server_slot_stats::to_json)."""

    prompt_n: int  # prompt tokens processed (not taken from its prompt cache)
    predicted_n: int  # tokens generated
    predicted_ms: float  # their time, after prompt processing
    predicted_per_second: float
    draft_n: int  # drafted tokens (0: it did not speculate)
    draft_n_accepted: int

    @classmethod
    def of(cls, raw: object) -> Timings | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(int(raw.get("prompt_n", 0)), int(raw["predicted_n"]), float(raw["predicted_ms"]),
                       float(raw.get("predicted_per_second", 0.0)), int(raw.get("draft_n", 0)),
                       int(raw.get("draft_n_accepted", 0)))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Reply:
    text: str
    completion_tokens: int  # the server's usage figure (0 if it gave none)
    seconds: float  # wall time of the request, prompt processing included
    finish_reason: str | None
    timings: Timings | None  # llama-server's, else None

    @property
    def tokens_per_second(self) -> float | None:
        """The decode rate after prompt processing where the server reports it (llama-server), else None: a
        request's wall time includes prompt processing and HTTP, so it is not a decode rate."""
        t = self.timings
        return t.predicted_n / (t.predicted_ms / 1000) if t is not None and t.predicted_ms > 0 else None


def _why(e: Exception) -> str:
    """One line for a failed request: the server's own error message where it sent one."""
    if isinstance(e, openai.APIStatusError):
        body = e.body if isinstance(e.body, dict) else {}
        inner = body.get("error", body) if isinstance(body, dict) else {}
        message = inner.get("message") if isinstance(inner, dict) else None
        return f"HTTP {e.status_code}: {message or e.message}"
    if isinstance(e, openai.APITimeoutError):
        return "no answer in time"
    if isinstance(e, openai.APIConnectionError | httpx.TransportError):
        cause = e.__cause__ or e
        return f"cannot connect ({type(cause).__name__}{': ' + str(cause) if str(cause) else ''})"
    return str(e) or type(e).__name__


class Client:
    """An OpenAI-compatible server at `base_url` (http://host:port, with or without /v1)."""

    def __init__(self, base_url: str, timeout: float = 600.0, api_key: str = "none") -> None:
        url = base_url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise WorkbenchError(f"{base_url}: not an http:// or https:// URL")
        self.root = url[:-3] if url.endswith("/v1") else url
        self.url = base_url
        self._http = httpx.Client(timeout=timeout)
        # no retries: a benchmark must not hide a failed request behind a second one
        self._api = openai.OpenAI(base_url=self.root + "/v1", api_key=api_key, timeout=timeout, max_retries=0,
                                  http_client=self._http)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, prompt: str, max_tokens: int, model: str = "default", **params: Any) -> Reply:
        """A completion of `prompt` as it is (no template applied by the server)."""
        start = time.perf_counter()
        try:
            r = self._api.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, **params)
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise WorkbenchError(f"{self.url}: the completion request failed: {_why(e)}") from None
        return self._reply(r, r.choices[0].text if r.choices else "", start)

    def chat(self, user_text: str, max_tokens: int, model: str = "default", **params: Any) -> Reply:
        """One user turn, in the server's own chat template."""
        start = time.perf_counter()
        try:
            r = self._api.chat.completions.create(model=model, messages=[{"role": "user", "content": user_text}],
                                                  max_tokens=max_tokens, **params)
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise WorkbenchError(f"{self.url}: the chat request failed: {_why(e)}") from None
        return self._reply(r, (r.choices[0].message.content or "") if r.choices else "", start)

    @staticmethod
    def _reply(r: Any, text: str, start: float) -> Reply:
        seconds = time.perf_counter() - start
        extra = r.model_extra or {}
        usage = r.usage.completion_tokens if r.usage is not None else 0
        finish = r.choices[0].finish_reason if r.choices else None
        return Reply(text, usage, seconds, finish, Timings.of(extra.get("timings")))

    def health(self) -> bool:
        """Whether the server says it is ready (llama-server's /health: 200 once the model is loaded, 503 before)."""
        try:
            return self._http.get(self.root + "/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def check(self) -> None:
        """A WorkbenchError line unless the server answers: llama-server's /health, else the models list that
        every OpenAI-compatible server serves."""
        if self.health():
            return
        try:
            self._api.models.list()
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise WorkbenchError(f"{self.url}: {_why(e)}") from None

    def metrics(self) -> dict[str, float]:
        """llama-server's Prometheus counters and gauges (/metrics, served with --metrics): name -> value; empty
        when the server has no such page."""
        try:
            with self._http.stream("GET", self.root + "/metrics", timeout=10.0) as r:
                if r.status_code != 200:
                    return {}
                data = b""
                for chunk in r.iter_bytes():
                    data += chunk
                    if len(data) > MAX_METRICS_BYTES:
                        break
        except httpx.HTTPError as e:
            raise WorkbenchError(f"{self.url}: cannot read /metrics: {_why(e)}") from None
        return parse_metrics(data[:MAX_METRICS_BYTES].decode("utf-8", "replace"))


def parse_metrics(text: str) -> dict[str, float]:
    """The samples of a Prometheus text page without labels (llama-server's are all unlabelled)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not sample.labels:
                    out[sample.name] = float(sample.value)
    except ValueError:
        pass  # a malformed line ends the page: what was read before it stands
    return out


__all__ = ["Client", "Reply", "Timings", "parse_metrics"]
