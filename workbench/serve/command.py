"""`workbench serve`: load the pair, then answer the OpenAI API on 127.0.0.1:8080 (uvicorn) until a signal.

SIGTERM, SIGHUP and SIGINT end it cleanly: new requests and queued ones get 503, the running one stops at its
next verify step and its stream gets its last chunk, the traffic log is flushed and closed, and the exit code
is 128 + the signal number (signals.py). With --tui the app shows the traffic (app/screens/serve.py) and the
server runs in a thread beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..engine.errors import WorkbenchError
from ..signals import exit_code, handling_signals

if TYPE_CHECKING:
    import uvicorn

    from ..engine.session import Engine
    from ..engine.settings import LiveSettings
    from .slot import Record, Slot
    from .traffic import TrafficLog


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_args(args: argparse.Namespace) -> str | None:
    """Refuse what cannot work before loading anything; returns the API key in force (flag or environment)."""
    if not 1 <= args.port <= 65535:
        raise WorkbenchError(f"--port must be from 1 to 65535, not {args.port}")
    if args.queue < 0:
        raise WorkbenchError(f"--queue must be at least 0, not {args.queue}")
    if args.timeout is not None and args.timeout <= 0:
        raise WorkbenchError(f"--timeout must be a positive number of seconds, not {args.timeout}")
    return args.api_key or os.environ.get("WORKBENCH_API_KEY") or None


@dataclass
class Server:
    """Everything `serve` runs: the engine's slot, the HTTP app, the traffic log."""

    slot: Slot
    model: str
    log: TrafficLog | None = None
    signum: int = 0  # the signal that ended it
    uvicorn: uvicorn.Server | None = field(default=None, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)  # the app's server mode serves in a thread

    @classmethod
    def build(cls, engine: Engine, settings: LiveSettings, args: argparse.Namespace, api_key: str | None) -> Server:
        from .api import Api
        from .metrics import Metrics
        from .slot import Slot
        from .traffic import TrafficLog

        model = engine.target.info.path.stem
        log = TrafficLog(args.log, str(engine.target.info.path)) if args.log else None
        metrics: Metrics | None = None

        def finished(record: Record) -> None:
            if log is not None:
                log.write(record)
            if metrics is not None:
                metrics.add(record)

        slot = Slot(engine, settings, args.queue, args.timeout, on_record=finished)
        metrics = Metrics(lambda: (int(slot.busy), slot.queued))
        server = cls(slot, model, log)
        server.uvicorn = _uvicorn(Api(slot, metrics, model).app(api_key), args.host, args.port, server)
        return server

    def stop(self, signum: int) -> None:
        """Begin a clean end (from the event loop's thread, or any thread in the app's server mode)."""
        if self.uvicorn is None:
            return
        if self.signum:  # a second signal: stop waiting for connections
            self.uvicorn.force_exit = True
            return
        self.signum = signum
        self.slot.shutdown()
        self.uvicorn.should_exit = True

    def close(self) -> None:
        """After uvicorn returned: end the engine thread and close the log (flushed after every request)."""
        self.slot.close()
        if self.log is not None:
            self.log.close()


def _uvicorn(app: object, host: str, port: int, owner: Server) -> uvicorn.Server:
    import uvicorn

    class Quiet(uvicorn.Server):
        """uvicorn, with our own signal handling: the running request is ended before the server stops."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            with handling_signals(lambda signum, _frame: owner.stop(signum)):
                yield

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False,
                            timeout_graceful_shutdown=30, server_header=False)
    return Quiet(config)


def serve(args: argparse.Namespace) -> int:
    from ..args import engine_from_args, settings_from_args

    api_key = check_args(args)
    if not is_loopback(args.host) and not api_key:
        print(f"workbench: warning: serving on {args.host} without --api-key: anyone who can reach it may use it",
              file=sys.stderr)
    settings = settings_from_args(args)
    engine = engine_from_args(args, settings.snapshot().drafter)
    for warning in engine.warnings:
        print(f"workbench: warning: {warning}", file=sys.stderr)
    for note in engine.fit_settings(settings):
        print(f"workbench: {note}", file=sys.stderr)
    try:
        server = Server.build(engine, settings, args, api_key)
    except BaseException:
        engine.close()
        raise
    if args.tui:
        from ..launch import open_server

        return open_server(args, server, start_thread(server, args))
    return run(server, args)


def start_thread(server: Server, args: argparse.Namespace) -> str:
    """Serve in a thread (the app has the main one); returns the address once it listens."""
    import time

    assert server.uvicorn is not None
    server.thread = threading.Thread(target=server.uvicorn.run, name="workbench-http", daemon=True)
    server.thread.start()
    while not server.uvicorn.started and server.thread.is_alive():
        time.sleep(0.05)
    if not server.uvicorn.started:
        server.close()
        raise WorkbenchError(f"cannot listen on {args.host}:{args.port} (in use, or not an address of this machine)")
    return f"http://{args.host}:{args.port}/v1"


def run(server: Server, args: argparse.Namespace) -> int:
    """Serve in this thread until a signal; the exit code says which."""
    assert server.uvicorn is not None
    print(f"workbench: serving {server.model} on http://{args.host}:{args.port}/v1 (one slot, queue {args.queue}"
          f"{', log ' + args.log if args.log else ''}); ctrl+c ends", file=sys.stderr, flush=True)
    try:
        server.uvicorn.run()
    except SystemExit:  # uvicorn's answer to an address it cannot bind (it logged why)
        raise WorkbenchError(f"cannot listen on {args.host}:{args.port} (in use, or not an address of this machine)") from None
    finally:
        server.close()
    return exit_code(server.signum) if server.signum else 0
