"""An error nobody foresaw: its traceback goes to a file for a bug report, the user reads one line.

A fatal signal (SIGSEGV, SIGBUS from a model file cut under the process, SIGILL, SIGFPE, SIGABRT) cannot run
Python code: faulthandler writes the threads' tracebacks to a per-process log opened at start (`arm`), and
the next start names it (`fatal_reports`). The folder keeps the newest KEEP crash logs.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import fcntl
import os
import time
import traceback
from pathlib import Path
from typing import IO

from .engine.userfiles import create_new, prune, write_atomic

KEEP = 20  # crash logs kept in the user data dir (README, "Where files go")
_armed: IO[str] | None = None


def crash_dir() -> Path:
    from .transcripts import transcripts_dir

    return transcripts_dir().parent


def crash_line(error: BaseException | None) -> str:
    """`workbench: error: <Type>: <message> (details in <log>)`, with the traceback written to that log."""
    from .engine.errors import WorkbenchError

    text = "".join(traceback.format_exception(error)) if error else "unknown error"
    try:
        log, f = create_new(crash_dir(), time.strftime("crash-%Y%m%d-%H%M%S"), ".log", "crash log")
        f.close()
        write_atomic(log, text, "crash log")
        prune(crash_dir(), "crash-*.log", KEEP)
        where = f" (details in {log})"
    except (WorkbenchError, OSError):
        where = ""
    return f"workbench: error: {type(error).__name__}: {error}{where}".replace("\n", " ")


def arm() -> None:
    """faulthandler to a log of this process's own (locked while it lives; removed at exit if empty)."""
    global _armed
    from .engine.errors import WorkbenchError

    if _armed is not None:
        return
    try:
        path, f = create_new(crash_dir(), f"fatal-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}", ".log", "crash log")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (WorkbenchError, OSError):
        return  # no place for it: a fatal signal then prints Python's own lines on stderr
    f.write(f"workbench (pid {os.getpid()}) died of a fatal signal; the tracebacks of its threads:\n")
    f.flush()
    header = f.tell()
    faulthandler.enable(file=f, all_threads=True)
    _armed = f

    def disarm() -> None:
        faulthandler.disable()
        wrote = f.tell() > header
        f.close()
        if not wrote:
            path.unlink(missing_ok=True)

    atexit.register(disarm)


def fatal_reports() -> list[str]:
    """One line per process that died of a fatal signal since the last start, naming its log (renamed into
    the crash logs, so it is said once and pruned with them). Logs of processes that died with nothing to say
    (SIGKILL) are removed."""
    lines = []
    for path in sorted(crash_dir().glob("fatal-*.log")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            text = os.read(fd, 4096).decode("utf-8", "replace")
        except OSError:
            continue  # its process is alive
        finally:
            os.close(fd)
        if "Fatal Python error" not in text:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        kind = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                     if line.startswith("Fatal Python error")), "a fatal signal")
        target = path.with_name("crash-" + path.name.removeprefix("fatal-"))
        with contextlib.suppress(OSError):
            os.replace(path, target)
            path = target
        lines.append(f"an earlier workbench process died ({kind}): its tracebacks are in {path}")
    prune(crash_dir(), "crash-*.log", KEEP)
    return lines
