"""A llama-server process started and always stopped by the workbench.

The server runs in a session (and process group) of its own, so a ctrl+c in the terminal reaches only the
workbench, which then stops it; `stop()` ends the whole group (SIGTERM, then SIGKILL after a grace period).
Every server still running when the interpreter exits is stopped (atexit), and on Linux the kernel sends the
server SIGTERM should the workbench itself be killed outright (PR_SET_PDEATHSIG), so no server outlives the run.
Its log goes to a file; a server that exits or never becomes healthy is reported with its last log lines.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..client import Client
from ..engine.errors import WorkbenchError

START_TIMEOUT = 300.0  # seconds for a server to load its model and answer /health
STOP_GRACE = 10.0
LOG_LINES = 6  # last lines of its log in an error
_running: set[LlamaServer] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the OS picks it); the server binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((host, port)) == 0


def check_executable(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.is_file() or not os.access(p, os.X_OK):
        why = "no such file" if not p.exists() else "not a file" if not p.is_file() else "not executable"
        raise WorkbenchError(f"--llama-server {path}: {why}")
    return p


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LlamaServer:
    """`argv` (the server and its flags, without --host/--port) run on a loopback port."""

    def __init__(self, argv: Sequence[str], port: int | None = None, host: str = "127.0.0.1",
                 extra: Sequence[str] = ("-np", "1", "--metrics")) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.argv = [*argv, *extra, "--host", host, "--port", str(self.port)]
        self.url = f"http://{host}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
        self.log_path = Path(self._log_file.name)

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, n: int = LOG_LINES) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in lines[-n:] if line.strip())

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start it and wait until /health says ready; a WorkbenchError (with its last log lines) if it exits
        first, does not answer in `timeout` seconds, or finds its port taken."""
        if port_in_use(self.port, self.host):
            raise WorkbenchError(f"port {self.port} on {self.host} is in use: llama-server cannot listen there")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        except OSError as e:
            raise WorkbenchError(f"cannot start {self.argv[0]}: {e.strerror}") from None
        _running.add(self)
        deadline = time.monotonic() + timeout
        with Client(self.url, timeout=5.0) as client:
            while not client.health():
                code = self.proc.poll()
                if code is not None:
                    self.stop()
                    raise WorkbenchError(f"llama-server exited at start (code {code}): {self.log_tail()}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise WorkbenchError(f"llama-server did not become ready in {timeout:.0f} s: {self.log_tail()}")
                time.sleep(0.1)

    def stop(self) -> None:
        """End the server's process group and wait for it (idempotent)."""
        proc, self.proc = self.proc, None
        _running.discard(self)
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._log_file.close()

    def remove_log(self) -> None:
        self.log_path.unlink(missing_ok=True)


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


__all__ = ["LlamaServer", "check_executable", "free_port", "port_in_use"]
