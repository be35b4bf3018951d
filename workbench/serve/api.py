"""The HTTP side: Starlette routes for the OpenAI API, `/health` and `/metrics`, bearer-key auth, the body
limit, OpenAI-style error bodies for every refusal, and server-sent events (sse-starlette) for streams.

Handlers never touch the engine: they admit a job into the slot (slot.py) and await what its thread sends.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import AppStatus, EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .metrics import CONTENT_TYPE, Metrics
from .protocol import ApiError, Request, decode_body, parse_chat, parse_completion
from .slot import Job, Record, Slot

BODY_LIMIT = 1 << 20  # 1 MiB
POLL = 0.25  # seconds between checks that a non-streaming client is still there

# The streams end themselves on a shutdown (the slot stops the running request, which sends its last chunk):
# sse-starlette must not cut them first.
AppStatus.disable_automatic_graceful_drain()


def error_response(e: ApiError, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(e.body(), status_code=e.status, headers=headers)


class KeyGuard:
    """`Authorization: Bearer KEY` on every path but /health, compared in constant time; 401 otherwise."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app, self.key = app, f"Bearer {key}".encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key is not None and scope["type"] == "http" and scope["path"] != "/health":
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(given, self.key):
                response = error_response(ApiError(401, "missing or incorrect API key (Authorization: Bearer KEY)",
                                                   code="invalid_api_key"))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Api:
    def __init__(self, slot: Slot, metrics: Metrics, model: str, body_limit: int = BODY_LIMIT) -> None:
        self.slot, self.metrics, self.model, self.body_limit = slot, metrics, model, body_limit
        self.created = int(time.time())

    def app(self, api_key: str | None = None) -> ASGIApp:
        routes = [Route("/health", self.health, methods=["GET"]),
                  Route("/metrics", self.prometheus, methods=["GET"]),
                  Route("/v1/models", self.models, methods=["GET"]),
                  Route("/v1/chat/completions", self.chat, methods=["POST"]),
                  Route("/v1/completions", self.completions, methods=["POST"])]
        handlers: dict[Any, Any] = {HTTPException: self._http_error, ApiError: self._api_error,
                                    Exception: self._unforeseen}
        return KeyGuard(Starlette(routes=routes, exception_handlers=handlers), api_key)

    # --- errors -----------------------------------------------------------------------------
    async def _api_error(self, request: HttpRequest, e: Exception) -> Response:
        assert isinstance(e, ApiError)
        self.metrics.answered(request.url.path, e.status)
        return error_response(e, self.slot.retry_after() if e.status == 503 else None)

    async def _http_error(self, request: HttpRequest, e: Exception) -> Response:
        assert isinstance(e, HTTPException)
        message = {404: f"no such endpoint: {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(e.status_code, str(e.detail))
        return error_response(ApiError(e.status_code, message, code={404: "not_found", 405: "method_not_allowed"}.get(
            e.status_code)))

    async def _unforeseen(self, request: HttpRequest, e: Exception) -> Response:
        return error_response(ApiError(500, f"internal error: {type(e).__name__}", kind="server_error"))

    # --- plain endpoints --------------------------------------------------------------------
    async def health(self, request: HttpRequest) -> Response:
        return JSONResponse({"status": "ok", "slots_processing": int(self.slot.busy), "queued": self.slot.queued})

    async def prometheus(self, request: HttpRequest) -> Response:
        return Response(self.metrics.text(), media_type=CONTENT_TYPE)

    async def models(self, request: HttpRequest) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model", "created": self.created,
                                                         "owned_by": "workbench"}]})

    # --- generation -------------------------------------------------------------------------
    async def _body(self, request: HttpRequest) -> dict[str, Any]:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise ApiError(415, f"the body must be application/json, not {media or 'untyped'}",
                           code="unsupported_media_type")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.body_limit:
            raise ApiError(413, f"the request body is larger than {self.body_limit} bytes", code="body_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.body_limit:
                raise ApiError(413, f"the request body is larger than {self.body_limit} bytes", code="body_too_large")
            chunks.append(chunk)
        return decode_body(b"".join(chunks))

    async def chat(self, request: HttpRequest) -> Response:
        return await self._generate(request, parse_chat(await self._body(request)))

    async def completions(self, request: HttpRequest) -> Response:
        return await self._generate(request, parse_completion(await self._body(request)))

    async def _next(self, job: Job, request: HttpRequest | None) -> tuple[str, Any]:
        """The next item from the engine thread; with `request`, a client that went away cancels the job."""
        while True:
            try:
                return await asyncio.wait_for(job.items.get(), POLL)
            except TimeoutError:
                if request is not None and await request.is_disconnected():
                    self.slot.cancel(job, "disconnected")
                    raise ApiError(499, "the client went away") from None
                if job.state == "queued" and job.deadline is not None and time.monotonic() > job.deadline:
                    self.slot.cancel(job, "timeout")
                    raise ApiError(503, "the request waited longer than the time limit (--timeout) for the slot",
                                   code="timeout", kind="server_error") from None

    async def _generate(self, request: HttpRequest, asked: Request) -> Response:
        job = self.slot.admit(asked, asyncio.get_running_loop())
        try:
            kind, value = await self._next(job, request)  # wait for the slot: the start, or why not
        except BaseException:
            self.slot.cancel(job, "disconnected")
            raise
        if kind in ("error", "dropped"):
            raise value
        if asked.stream:
            self.metrics.answered(request.url.path, 200)
            async def closed(_message: object) -> None:  # also when the client left before the stream began
                self.slot.cancel(job, "disconnected")

            return EventSourceResponse(self._events(job), ping=15, headers={"Cache-Control": "no-cache"},
                                       client_close_handler_callable=closed)
        try:
            while True:
                kind, value = await self._next(job, request)
                if kind == "error":
                    raise value
                if kind == "done":
                    break
        except BaseException:
            self.slot.cancel(job, "disconnected")
            raise
        self.metrics.answered(request.url.path, 200)
        return JSONResponse(self._whole(value))

    def _head(self, record: Record, chunk: bool) -> dict[str, Any]:
        chat = record.endpoint == "chat"
        kind = ("chat.completion" if chat else "text_completion") + (".chunk" if chunk and chat else "")
        return {"id": record.id, "object": kind, "created": int(record.arrival), "model": self.model}

    def _whole(self, record: Record) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": record.finish_reason, "logprobs": None}
        if record.endpoint == "chat":
            choice["message"] = {"role": "assistant", "content": record.text}
        else:
            choice["text"] = record.text
        return {**self._head(record, False), "choices": [choice], "usage": record.usage(), "timings": record.timings(),
                "workbench": record.workbench()}

    def _chunk(self, record: Record, text: str | None, finish: str | None = None, role: bool = False) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if record.endpoint == "chat":
            choice["delta"] = ({"role": "assistant", "content": ""} if role else {}) | (
                {"content": text} if text is not None else {})
        else:
            choice["text"] = text or ""
        return {**self._head(record, True), "choices": [choice]}

    async def _events(self, job: Job) -> AsyncIterator[str]:
        """The stream: a first chunk, one per verify step's text, a last one with finish_reason, usage, timings
        and the workbench object, then [DONE]. If the client goes away, sse-starlette cancels this generator and
        the generation stops at its next verify step."""
        record, finished = job.record, False
        try:
            if record.endpoint == "chat":
                yield json.dumps(self._chunk(record, None, role=True))
            while True:
                kind, value = await job.items.get()
                if kind == "text":
                    yield json.dumps(self._chunk(record, value), ensure_ascii=False)
                elif kind == "error":
                    finished = True
                    yield json.dumps(value.body())
                    yield "[DONE]"
                    return
                elif kind == "done":
                    finished = True
                    last = self._chunk(record, None, record.finish_reason)
                    last.update(usage=record.usage(), timings=record.timings(), workbench=record.workbench())
                    yield json.dumps(last, ensure_ascii=False)
                    if job.record.request.include_usage:  # OpenAI's own usage chunk, with no choices
                        yield json.dumps({**self._head(record, True), "choices": [], "usage": record.usage()})
                    yield "[DONE]"
                    return
        finally:
            if not finished:
                self.slot.cancel(job, "disconnected")
