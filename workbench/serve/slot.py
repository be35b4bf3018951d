"""The single slot: one engine thread runs one generation at a time, in the order requests arrived.

The event loop never waits on the model: a request is admitted (or refused when the queue is full), put
on the engine thread's FIFO queue, and its handler awaits what the thread sends back through the loop
(`call_soon_threadsafe`, once per verify step): a start, the text of each step, the end. Cancelling a job
(the client went away, the time limit, a shutdown) stops its generation at the next verify step
(`Session.stop`), or drops it from the queue before it starts.

Whoever shows the traffic (the app's server mode) subscribes with `observe`: it gets every request's start,
every engine event, and its end, from the engine thread, so it must only queue them (RunView.push does).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..engine.errors import WorkbenchError
from ..engine.events import DoneEvent, Event, PromptEvent, StepEvent, TokenEvent
from ..engine.settings import LiveSettings, Settings
from ..engine.transcript import Transcript
from .protocol import ApiError, Request
from .stops import StopFinder

if TYPE_CHECKING:
    from ..engine.session import Engine


class RequestSettings(LiveSettings):
    """The server's live settings with one request's sampling on top. The decode loop reads it every step, so
    a change to the server's settings (the app's sidebar) reaches the running request at its next verify step."""

    def __init__(self, base: LiveSettings, overrides: dict[str, Any]) -> None:
        self._base, self._overrides = base, overrides

    def snapshot(self) -> Settings:
        return replace(self._base.snapshot(), **self._overrides)

    def update(self, **changes: Any) -> Settings:
        self._base.update(**changes)
        return self.snapshot()


@dataclass
class Record:
    """One request as it ran: what was asked, what came out, with what settings and speed."""

    id: str
    endpoint: str
    arrival: float  # time.time() when it was admitted
    request: Request
    prompt_tokens: int = 0
    n_predict: int = 0
    settings: Settings | None = None  # in force when it started
    transcript: Transcript = field(default_factory=Transcript)
    text: str = ""  # the output as the client got it (cut at a stop sequence)
    finish_reason: str = "stop"  # OpenAI's: stop or length
    stop_reason: str = ""  # the workbench's: eos, stop, n_predict, context_full, timeout, shutdown, disconnected
    prompt_seconds: float = 0.0
    prompt_evaluated: int = 0  # prompt tokens evaluated (the rest were reused from the cache)

    @property
    def stats(self):  # noqa: ANN201 (engine.stats.Stats)
        return self.transcript.stats

    def timings(self) -> dict[str, Any]:
        """llama-server's `timings` object, so tools written for it read ours."""
        s = self.stats
        predicted_ms = 1000 * s.elapsed
        prompt_ms = 1000 * self.prompt_seconds
        return {"cache_n": max(0, self.prompt_tokens - 1 - self.prompt_evaluated), "prompt_n": self.prompt_evaluated,
                "prompt_ms": prompt_ms,
                "prompt_per_token_ms": prompt_ms / self.prompt_evaluated if self.prompt_evaluated else 0.0,
                "prompt_per_second": 1000 * self.prompt_evaluated / prompt_ms if prompt_ms else 0.0,
                "predicted_n": s.n_emitted, "predicted_ms": predicted_ms,
                "predicted_per_token_ms": predicted_ms / s.n_emitted if s.n_emitted else 0.0,
                "predicted_per_second": s.tokens_per_second,
                "draft_n": s.n_drafted, "draft_n_accepted": s.n_accepted}

    def usage(self) -> dict[str, int]:
        n = self.stats.n_emitted
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": n, "total_tokens": self.prompt_tokens + n}

    def workbench(self) -> dict[str, Any]:
        """What speculation did for this request: the settings in force, drafted/accepted per drafter, acceptance
        by position, mean accepted length."""
        s = self.stats
        return {"id": self.id, "drafter": self.settings.drafter if self.settings else None,
                "settings": asdict(self.settings) if self.settings else None,
                "settings_changes": [{"step": c.step, **c.changes} for c in self.transcript.settings_changes],
                "stop_reason": self.stop_reason, "steps": s.n_steps,
                "drafting_steps": s.n_drafted_steps, "drafted": s.n_drafted, "accepted": s.n_accepted,
                "acceptance": s.acceptance, "mean_accepted_length": s.mean_accepted_length,
                "acceptance_by_position": s.position_acceptance,
                "by_drafter": {src.value: {"drafts": d.drafts, "drafted": d.drafted, "accepted": d.accepted,
                                           "acceptance_by_position": d.position_acceptance}
                               for src, d in s.drafters.items()},
                "notices": self.transcript.notices}


@dataclass(frozen=True)
class Started:
    """Sent to observers when a request begins generating."""

    record: Record


@dataclass(frozen=True)
class Ended:
    """Sent to observers when a request is over (its record is complete)."""

    record: Record


Observer = Callable[[Started | Ended | Event], None]


class Job:
    """A request on its way through the slot; its handler reads `items` in the event loop."""

    def __init__(self, record: Record, loop: asyncio.AbstractEventLoop, deadline: float | None) -> None:
        self.record = record
        self.loop = loop
        self.deadline = deadline  # time.monotonic() after which it is cut
        self.items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.cancelled = threading.Event()
        self.cancel_reason = ""
        self.state = "queued"  # queued -> running -> done, or queued -> dropped

    def send(self, kind: str, value: Any = None) -> None:
        """From the engine thread: hand an item to the handler in the event loop."""
        try:
            self.loop.call_soon_threadsafe(self.items.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def cancel(self, reason: str) -> None:
        if not self.cancelled.is_set():
            self.cancel_reason = reason
            self.cancelled.set()


class Slot:
    """The engine, its thread and the FIFO queue in front of it."""

    def __init__(self, engine: Engine, settings: LiveSettings, queue_size: int = 8, timeout: float | None = None,
                 on_record: Callable[[Record], None] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.queue_size = queue_size
        self.timeout = timeout
        self.on_record = on_record  # the traffic log and the metrics, called in the engine thread
        self.observers: list[Observer] = []
        self.draining = False
        self._jobs: queue.Queue[Job | Callable[[Engine], None] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting: deque[Job] = deque()  # admitted, not yet started
        self._running: Job | None = None
        self._durations: deque[float] = deque(maxlen=16)
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._work, name="workbench-engine", daemon=True)
        self._thread.start()

    # --- in the event loop ------------------------------------------------------------------
    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def retry_after(self) -> int:
        """Seconds until a place is likely free: recent requests' mean duration times those ahead."""
        mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
        return max(1, math.ceil(mean * (len(self._waiting) + 1)))

    def admit(self, request: Request, loop: asyncio.AbstractEventLoop) -> Job:
        """A job for the request, queued; ApiError 503 when the server is stopping or the queue is full."""
        with self._lock:
            if self.draining:
                raise ApiError(503, "the server is shutting down", code="shutting_down", kind="server_error")
            if len(self._waiting) >= self.queue_size and (self._running is not None or self._waiting):
                raise ApiError(503, f"the server is busy: {len(self._waiting)} requests are waiting for its one "
                                    "slot (--queue)", code="queue_full", kind="server_error")
            prefix = "chatcmpl" if request.endpoint == "chat" else "cmpl"
            record = Record(f"{prefix}-{next(self._ids)}-{secrets.token_hex(4)}", request.endpoint, time.time(),
                            request)
            job = Job(record, loop, time.monotonic() + self.timeout if self.timeout else None)
            self._waiting.append(job)
        self._jobs.put(job)
        return job

    def cancel(self, job: Job, reason: str) -> None:
        """Stop the job: dropped if still queued, stopped at its next verify step if running."""
        with self._lock:
            if job.state == "queued":
                job.state = "dropped"
                self._waiting.remove(job)
        job.cancel(reason)

    def shutdown(self) -> None:
        """Refuse new requests, drop the queued ones (their handlers answer 503), stop the running one at its next
        verify step."""
        with self._lock:
            self.draining = True
            waiting, self._waiting = list(self._waiting), deque()
            for job in waiting:
                job.state = "dropped"
            running = self._running
        for job in waiting:
            job.cancel("shutdown")
            job.send("dropped", ApiError(503, "the server is shutting down", code="shutting_down",
                                         kind="server_error"))
        if running is not None:
            running.cancel("shutdown")

    def call(self, work: Callable[[Engine], None]) -> None:
        """Run `work(engine)` in the engine thread between requests, after those already queued (the app's
        measurement of plain decoding). It must catch its own errors."""
        self._jobs.put(work)

    def close(self) -> None:
        """End the engine thread (after the running request) and close the engine."""
        self._jobs.put(None)
        self._thread.join()
        self.engine.close()

    # --- in the engine thread ---------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not isinstance(job, Job):
                job(self.engine)
                continue
            with self._lock:
                if job.state != "queued":
                    continue
                job.state = "running"
                self._waiting.remove(job)
                self._running = job
            start = time.monotonic()
            try:
                self._generate(job)
            except ApiError as e:
                job.send("error", e)
            except WorkbenchError as e:
                job.send("error", ApiError(400, str(e)))
            except Exception as e:  # noqa: BLE001 (an engine failure ends this request, not the server)
                job.send("error", ApiError(500, f"generation failed: {e}", kind="server_error"))
            finally:
                with self._lock:
                    self._running = None
                    job.state = "done"
                self._durations.append(time.monotonic() - start)

    def _notify(self, item: Started | Ended | Event) -> None:
        for observer in list(self.observers):
            observer(item)

    def prompt_of(self, request: Request) -> str:
        """The text the model reads: the conversation in its chat template, or the completion's prompt."""
        if request.messages is not None:
            return self.engine.target.chat_messages(request.messages)
        return request.prompt or ""

    def _generate(self, job: Job) -> None:
        engine, record, request = self.engine, job.record, job.record.request
        if job.deadline is not None and time.monotonic() > job.deadline:
            raise ApiError(503, "the request waited longer than the time limit (--timeout) for the slot",
                           code="timeout", kind="server_error")
        tokens = engine.tokens(self.prompt_of(request))
        n_ctx = engine.target.n_ctx
        if len(tokens) >= n_ctx:
            raise ApiError(400, f"the prompt is {len(tokens)} tokens, more than the context of {n_ctx} holds",
                           param="messages" if request.messages is not None else "prompt",
                           code="context_length_exceeded")
        room = n_ctx - len(tokens)
        record.prompt_tokens = len(tokens)
        record.n_predict = min(request.max_tokens or room, room)  # max_tokens capped at what the context holds
        overrides = dict(request.sampling)
        if overrides.get("temperature", self.settings.snapshot().temperature) > 0 and "seed" not in overrides:
            overrides["seed"] = secrets.randbelow(2**32)  # like OpenAI: no seed, another sample each time
        settings = RequestSettings(self.settings, overrides)
        if request.forget:
            engine.forget()
        session = engine.session(tokens, settings)
        record.settings = settings.snapshot()
        job.send("start")
        self._notify(Started(record))
        stops = StopFinder(request.stop)
        pending: list[str] = []
        for event in session.run(record.n_predict):
            record.transcript.add(event)
            self._notify(event)
            if isinstance(event, TokenEvent) and event.emitted and not stops.hit:
                pending.append(stops.feed(event.piece))
                if stops.hit:
                    record.stop_reason = "stop"
                    session.stop()
            elif isinstance(event, PromptEvent):
                record.prompt_evaluated, record.prompt_seconds = event.n_tokens, event.seconds
            elif isinstance(event, StepEvent | DoneEvent):
                if isinstance(event, DoneEvent) and not stops.hit:
                    pending.append(stops.flush())
                text = "".join(pending)
                pending.clear()
                if text:
                    record.text += text
                    job.send("text", text)
            if job.cancelled.is_set() or (job.deadline is not None and time.monotonic() > job.deadline):
                if not job.cancelled.is_set():
                    job.cancel("timeout")
                session.stop()
        session.finish()  # its output feeds the drafters that learn across requests now, not at the next request
        done = record.transcript.done
        if not record.stop_reason:
            record.stop_reason = job.cancel_reason or (done.reason if done else "stop")
        record.finish_reason = "stop" if record.stop_reason in ("eos", "stop") else "length"
        if self.on_record is not None:
            self.on_record(record)
        self._notify(Ended(record))
        job.send("done", record)
