"""Recording a session's events as JSON lines, and reading them back for replay.

Line 1 is a header (format version, models, prompt, settings); every other line is one event with its
type and `t`, the seconds since recording began, so a replay can keep the original pace. A replay needs
no model: the events carry every token's text, source and fate, and every step's counts and timings.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import IO, Any

from .errors import WorkbenchError
from .events import DoneEvent, Event, Fate, NoticeEvent, PromptEvent, SettingsEvent, Source, StepEvent, TokenEvent

FORMAT = "workbench-record"
VERSION = 1
_TYPES: dict[str, type] = {"token": TokenEvent, "step": StepEvent, "prompt": PromptEvent, "settings": SettingsEvent,
                           "notice": NoticeEvent, "done": DoneEvent}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def event_to_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    for key in ("source", "fate"):
        if key in data:
            data[key] = data[key].value
    return {"type": _NAMES[type(event)], **data}


def event_from_json(data: dict[str, Any]) -> Event:
    cls = _TYPES[data["type"]]
    values = {f.name: data[f.name] for f in fields(cls)}
    if "source" in values:
        values["source"] = Source(values["source"])
    if "fate" in values:
        values["fate"] = Fate(values["fate"])
    return cls(**values)


class Recorder:
    """Appends events to a JSON-lines file as they happen (flushed per step, so a crash loses little)."""

    def __init__(self, path: str | Path, header: dict[str, Any]) -> None:
        try:
            self._file: IO[str] = Path(path).expanduser().open("w", encoding="utf-8")
        except OSError as e:
            raise WorkbenchError(f"cannot record to {path}: {e.strerror}") from None
        self._start = time.perf_counter()
        self._write({"type": "header", "format": FORMAT, "version": VERSION, **header})

    def _write(self, data: dict[str, Any]) -> None:
        self._file.write(json.dumps(data, ensure_ascii=False) + "\n")

    def add(self, event: Event) -> None:
        self._write({**event_to_json(event), "t": round(time.perf_counter() - self._start, 4)})
        if not isinstance(event, TokenEvent):
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def load(path: str | Path) -> tuple[dict[str, Any], list[tuple[float, Event]]]:
    """(header, [(t, event), ...]) from a recording, or a one-line WorkbenchError naming the bad line."""
    p = Path(path).expanduser()
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such recording") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"{path}: cannot read the recording ({e})") from None
    if not lines:
        raise WorkbenchError(f"{path} is empty, not a workbench recording")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise WorkbenchError(f"{path} is not a workbench recording (line 1 is not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise WorkbenchError(f"{path} is not a workbench recording (no {FORMAT} header)")
    if header.get("version") != VERSION:
        raise WorkbenchError(f"{path} is a version {header.get('version')} recording; this workbench reads version {VERSION}")
    events: list[tuple[float, Event]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            events.append((float(data["t"]), event_from_json(data)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            last = number == len(lines)
            why = "cut off (the recording was interrupted)" if last else f"damaged ({type(e).__name__}: {e})"
            raise WorkbenchError(f"{path}: line {number} is {why}") from None
    return header, events
