"""An error nobody foresaw: its traceback goes to a file for a bug report, the user reads one line.

A fatal signal (SIGSEGV, SIGBUS from a model file cut under the process, SIGILL, SIGFPE, SIGABRT) cannot run
Python code: faulthandler writes the threads' tracebacks to a per-process log opened at start (`arm`), and
the next start names it (`fatal_reports`). What the dying process cannot do, a guardian does: a forked
child that only waits on a pipe. When the pipe closes without the process having said goodbye (a fatal
signal, SIGKILL, the OOM killer), it prints the one-line pointer to the log on stderr and, if the app had the
terminal, gives the terminal back (main screen, cursor, mouse reporting off, the modes saved at start). The
folder keeps the newest KEEP crash logs.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import fcntl
import os
import signal
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
    _start_guardian(path)

    def disarm() -> None:
        goodbye()
        faulthandler.disable()
        wrote = f.tell() > header
        f.close()
        if not wrote:
            path.unlink(missing_ok=True)

    atexit.register(disarm)


_guardian: int | None = None  # the write end of the guardian's pipe
_TERMINAL_BACK = b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[0m\r\n"


def _start_guardian(log: Path) -> None:
    global _guardian
    import termios

    try:
        modes = termios.tcgetattr(0) if os.isatty(0) else None
    except termios.error:
        modes = None
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
    except OSError:
        return
    if pid:
        os.close(read_end)
        _guardian = write_end
        return
    try:  # the guardian: nothing but waiting, then a few writes
        os.close(write_end)
        for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_IGN)  # the terminal's signals are for the process it guards
        app, said = False, b""
        while (chunk := os.read(read_end, 16)) and b"k" not in (said := said + chunk):
            app = app or b"a" in said
        if b"k" in said:
            os._exit(0)  # a goodbye: the process ended by itself
        if app:
            with contextlib.suppress(OSError):
                os.write(1, _TERMINAL_BACK)
                if modes is not None:
                    termios.tcsetattr(0, termios.TCSANOW, modes)
        with contextlib.suppress(OSError):
            text = log.read_text(encoding="utf-8", errors="replace")
            if "Fatal Python error" in text:
                kind = text.split("Fatal Python error:", 1)[1].splitlines()[0].strip()
                os.write(2, f"workbench: died of a fatal signal ({kind}); tracebacks in {log}; the run so far "
                            f"is in the journal (the next start recovers it)\n".encode())
    finally:
        os._exit(0)


def app_has_terminal() -> None:
    """The app took the terminal: should the process die, the guardian gives it back."""
    if _guardian is not None:
        with contextlib.suppress(OSError):
            os.write(_guardian, b"a")


def goodbye() -> None:
    """The process ends by itself (also before an os._exit): the guardian leaves quietly."""
    global _guardian
    if _guardian is not None:
        with contextlib.suppress(OSError):
            os.write(_guardian, b"k")
            os.close(_guardian)
        _guardian = None


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
