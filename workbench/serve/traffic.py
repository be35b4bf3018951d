"""`--log traffic.jsonl`: one JSON line per request served, appended and flushed as each request ends, so a
killed server loses at most the request it was running. `workbench bench -f` and `tune -f` replay the file
as a suite (suites.py reads it back)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from ..engine.errors import WorkbenchError
from .slot import Record

KIND = "workbench-traffic"  # the first key of every line: how suites.py tells a traffic log from a prompt file


def line(record: Record, model: str) -> dict[str, Any]:
    return {"kind": KIND, "id": record.id, "time": record.arrival, "model": model, **record.request.to_json(),
            "output": record.text, "finish_reason": record.finish_reason, "usage": record.usage(),
            "timings": record.timings(), "workbench": record.workbench()}


class TrafficLog:
    def __init__(self, path: str | Path, model: str) -> None:
        self.path, self.model = Path(path).expanduser(), model
        if self.path.exists() and not self.path.is_file():
            raise WorkbenchError(f"{path}: not a regular file, cannot log traffic to it")
        try:
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as e:
            raise WorkbenchError(f"cannot open the traffic log {path}: {e.strerror}") from None
        self._lock = threading.Lock()

    def write(self, record: Record) -> None:
        text = json.dumps(line(record, self.model), ensure_ascii=False)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(text + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
