"""An error nobody foresaw: its traceback goes to a file for a bug report, the user reads one line."""

from __future__ import annotations

import time
import traceback


def crash_line(error: BaseException | None) -> str:
    """`workbench: error: <Type>: <message> (details in <log>)`, with the traceback written to that log."""
    from .transcripts import transcripts_dir

    log = transcripts_dir().parent / time.strftime("crash-%Y%m%d-%H%M%S.log")
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(error)) if error else "unknown error", encoding="utf-8")
        where = f" (details in {log})"
    except OSError:
        where = ""
    return f"workbench: error: {type(error).__name__}: {error}{where}".replace("\n", " ")
