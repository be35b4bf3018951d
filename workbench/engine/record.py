"""Recording a session's events as JSON lines, and reading them back for replay.

Line 1 is a header (format version, models, prompt, settings, and plain decoding's measured tokens/s when known,
so a replay can show the speedup); every other line is one event with its
type and `t`, the seconds since recording began, so a replay can keep the original pace. A replay needs
no model: the events carry every token's text, source and fate, and every step's counts and timings.

`load` trusts nothing in the file: the header and every event are checked strictly by JSON type against
the event dataclasses (derived from their annotations, so a new field is checked without a new rule), with
the few invariants a step or token has. A file that is no recording at all is a one-line WorkbenchError;
a damaged or cut line stops the replay there, keeping every event before it, and `Recording.problem`
says where and why in one line.
"""

from __future__ import annotations

import json
import math
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field, dataclass, fields
from enum import Enum
from functools import cache
from pathlib import Path
from typing import IO, Any, BinaryIO, get_type_hints

from .errors import WorkbenchError
from .events import (
    DoneEvent,
    Event,
    Fate,
    NoticeEvent,
    PromptEvent,
    PromptProgressEvent,
    SettingsEvent,
    Source,
    StepEvent,
    TokenEvent,
)
from .settings import SPECS, validate
from .userfiles import open_stream

FORMAT = "workbench-record"
VERSION = 1
MAX_BYTES = 512 * 2**20  # a recording larger than this is refused rather than read into memory
_TYPES: dict[str, type] = {"token": TokenEvent, "step": StepEvent, "prompt": PromptEvent,
                           "prompt_progress": PromptProgressEvent, "settings": SettingsEvent,
                           "notice": NoticeEvent, "done": DoneEvent}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def event_to_json(event: Event) -> dict[str, Any]:
    # Shallow (events hold plain values, a SettingsEvent a flat dict): asdict's deep copy cost a journal
    # ~15 us an event, this a few (benchmarks/journal_cost.py).
    data: dict[str, Any] = {"type": _NAMES[type(event)]}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        data[name] = value.value if isinstance(value, Enum) else value
    return data


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


class Recorder:
    """Appends events to a JSON-lines file as they happen, flushed per verify step (a crash loses at most the
    step being made). A write that fails (a full disk) stops the recording, not the run: `problem` says so in
    one line, and whatever was written before stays a valid recording up to its last whole line."""

    def __init__(self, path: str | Path, header: dict[str, Any], file: IO[str] | None = None) -> None:
        self.path = Path(path)
        self._file: IO[str] = file if file is not None else open_stream(path, "recording")
        self.problem: str | None = None
        self._start = time.perf_counter()
        self._write({"type": "header", "format": FORMAT, "version": VERSION, **header})
        self._flush()
        if self.problem:
            self.close()
            raise WorkbenchError(self.problem)

    def _write(self, data: dict[str, Any]) -> None:
        if self.problem is None:
            try:
                self._file.write(json.dumps(data, ensure_ascii=False) + "\n")
            except OSError as e:
                self._fail(e)

    def _flush(self) -> None:
        if self.problem is None:
            try:
                self._file.flush()
            except OSError as e:
                self._fail(e)

    def _fail(self, e: OSError) -> None:
        self.problem = f"the recording {self.path} stopped: {e.strerror or e} (what it holds so far is kept)"

    def add(self, event: Event) -> None:
        self._write({**event_to_json(event), "t": round(time.perf_counter() - self._start, 4)})
        if not isinstance(event, TokenEvent):
            self._flush()

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._file.close()
            except OSError as e:  # the last buffered lines could not go out
                if self.problem is None:
                    self._fail(e)


@dataclass(frozen=True, slots=True)
class Recording:
    """What `load` read: the checked header, the events in order, and what was wrong, if anything.

    `problem` is one line for the user (a notification, a line on stderr): where the replay stops and why
    (`stopped_at` is that line's number), and which header entries or settings changes were ignored.
    Unpacks as `header, events = load(path)`, as load's result did before it had a problem to report."""

    header: dict[str, Any]
    events: list[tuple[float, Event]]
    problem: str | None = None
    stopped_at: int | None = None

    def __iter__(self) -> Iterator[Any]:
        yield self.header
        yield self.events


# --- checking values by JSON type -----------------------------------------------------------------------

_INT_MAX = 2**63 - 1  # no count, id or step in a recording is near this; a larger one is damage
_K_MAX = int(SPECS["draft_max"].hi or 64)  # no step drafts more than the largest K a setting allows


def _show(value: Any) -> str:
    """A value as JSON, short enough for a one-line message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(value: Any) -> int:
    if type(value) is not int:  # JSON true/false are not numbers, 2.0 is not a count
        raise ValueError(f"must be a whole number, not {_show(value)}")
    if not 0 <= value <= _INT_MAX:
        raise ValueError(f"must be a whole number from 0, not {_show(value)}")
    return value


def _float(value: Any) -> float:
    if type(value) not in (int, float):
        raise ValueError(f"must be a number, not {_show(value)}")
    number = float(value)  # a JSON integer is a fine number of seconds
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"must be a finite number from 0, not {_show(value)}")
    return number


def _str(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"must be text, not {_show(value)}")
    return value


def _enum(cls: type[Enum]) -> Callable[[Any], Enum]:
    values = {member.value: member for member in cls}
    allowed = ", ".join(values)

    def check(value: Any) -> Enum:
        if type(value) is not str or value not in values:
            raise ValueError(f"must be one of {allowed}, not {_show(value)}")
        return values[value]

    return check


def _setting(name: str, value: Any) -> Any:
    """A recorded setting's value as the settings table takes it, or ValueError: the JSON type must already
    be the setting's own (no "8" for 8, no true for 1), then the table's own validation decides."""
    spec = SPECS.get(name)
    if spec is None:
        raise ValueError(f"{_show(name)} is not a setting")
    if spec.choices or spec.kind is str:
        ok, kind = type(value) is str, "text"
    elif spec.kind is int:
        ok, kind = type(value) is int, "a whole number"
    else:
        ok, kind = type(value) in (int, float), "a number"
    if not ok:
        raise ValueError(f"{name} must be {kind}, not {_show(value)}")
    try:
        return validate(name, value)
    except WorkbenchError as e:
        raise ValueError(str(e)) from None


def _settings(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings the table takes (converted), and why each other one was refused."""
    kept: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for name, value in values.items():
        try:
            kept[name] = _setting(name, value)
        except ValueError as e:
            refused[name] = str(e)
    return kept, refused


def _changes(value: Any) -> dict[str, Any]:
    """A settings change must be an object (its entries are checked by _event, which says what it left out)."""
    if type(value) is not dict:
        raise ValueError(f"must be an object, not {_show(value)}")
    return value


def _checker(annotation: Any) -> Callable[[Any], Any]:
    if annotation is int:
        return _int
    if annotation is float:
        return _float
    if annotation is str:
        return _str
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _enum(annotation)
    if annotation == dict[str, Any]:
        return _changes
    raise TypeError(f"record.py cannot check a recorded field of type {annotation!r}: add a checker")


def _default(f: Field[Any]) -> Callable[[], Any] | None:
    """What a line without this field gets (a field added later, with a default, keeps old recordings valid)."""
    if f.default is not MISSING:
        return lambda: f.default
    if f.default_factory is not MISSING:
        return f.default_factory
    return None


# Each event type's fields: name, checker from its annotation, default. Every number an event holds is a
# count, a step, a position, a token id or a time, so the number checkers refuse negatives.
_FIELDS: dict[type, list[tuple[str, Callable[[Any], Any], Callable[[], Any] | None]]] = {
    cls: [(f.name, _checker(get_type_hints(cls)[f.name]), _default(f)) for f in fields(cls)] for cls in _TYPES.values()
}
_DRAFTED = (Fate.ACCEPTED, Fate.REJECTED)


def _step_invariants(e: StepEvent) -> str | None:
    if e.k > _K_MAX:
        return f"K {e.k} is more than {_K_MAX}"
    if not e.accepted <= e.drafted <= e.k:
        return f"accepted {e.accepted} <= drafted {e.drafted} <= K {e.k} does not hold"
    if e.emitted > e.accepted + 1:
        return f"emitted {e.emitted} is more than accepted {e.accepted} + 1"
    return None


def _token_invariants(e: TokenEvent) -> str | None:
    if e.draft_pos > _K_MAX:
        return f"draft_pos {e.draft_pos} is more than {_K_MAX}"
    if (e.fate in _DRAFTED) == (e.source is Source.TARGET):
        return f"fate {e.fate.value} does not go with source {e.source.value}"
    return None


_INVARIANTS: dict[type, Callable[[Any], str | None]] = {StepEvent: _step_invariants, TokenEvent: _token_invariants}


def _event(data: Any) -> tuple[Event, list[str]]:
    """The event a line's JSON holds, and why each settings change left out of it was; ValueError if the
    line is not a valid event."""
    if type(data) is not dict:
        raise ValueError(f"not an event (a JSON {type(data).__name__}, not an object)")
    name = data.get("type")
    cls = _TYPES.get(name) if type(name) is str else None
    if cls is None:
        raise ValueError(f"unknown event type {_show(name)}" if "type" in data else "no event type")
    values: dict[str, Any] = {}
    for field_name, check, default in _FIELDS[cls]:
        if field_name not in data:
            if default is None:
                raise ValueError(f"a {name} event without {field_name}")
            values[field_name] = default()
            continue
        try:
            values[field_name] = check(data[field_name])
        except ValueError as e:
            raise ValueError(f"a {name} event's {field_name} {e}") from None
    refused: dict[str, str] = {}
    if cls is SettingsEvent:
        values["changes"], refused = _settings(values["changes"])
    event = cls(**values)
    invariant = _INVARIANTS.get(cls)
    why = invariant(event) if invariant else None
    if why:
        raise ValueError(f"a {name} event where {why}")
    return event, list(refused.values())


def _header(data: Any, path: str | Path, notes: list[str]) -> dict[str, Any]:
    """The header as replay uses it (format, version, prompt, models, settings), or a WorkbenchError when the
    line is no workbench header. Entries of the wrong type are ignored, with a note saying so."""
    if type(data) is not dict or data.get("format") != FORMAT:
        raise WorkbenchError(f"{path} is not a workbench recording (no {FORMAT} header)")
    version = data.get("version")
    if "version" not in data:
        raise WorkbenchError(f"{path} has no format version; this workbench reads version {VERSION} recordings")
    if type(version) is not int or version != VERSION:  # true == 1 in Python, not in a recording
        raise WorkbenchError(f"{path} is a version {_show(version)} recording; this workbench reads version {VERSION}")
    prompt = data.get("prompt", "")
    if type(prompt) is not str:
        notes.append(f"the header's prompt is not text ({_show(prompt)}): left empty")
        prompt = ""
    models = data.get("models", {})
    if type(models) is not dict:
        notes.append(f"the header's models is not an object ({_show(models)}): ignored")
        models = {}
    bad = {k: f"{_show(k)} is {_show(v)}, not a file name" for k, v in models.items() if v is not None and type(v) is not str}
    if bad:
        notes.append(_ignored(bad, "recorded model"))
        models = {k: v for k, v in models.items() if k not in bad}
    settings = data.get("settings", {})
    if type(settings) is not dict:
        notes.append(f"the header's settings is not an object ({_show(settings)}): ignored")
        settings = {}
    settings, bad = _settings(settings)
    if bad:
        notes.append(_ignored(bad, "recorded setting"))
    header = {"type": "header", "format": FORMAT, "version": VERSION, "prompt": prompt, "models": models,
              "settings": settings}
    baseline = data.get("baseline")  # plain decoding's tokens/s on the recording's pair, when it was measured
    if baseline is not None:
        if type(baseline) in (int, float) and math.isfinite(baseline) and baseline > 0:
            header["baseline"] = float(baseline)
        else:
            notes.append(f"the header's baseline is not a positive number ({_show(baseline)}): ignored")
    return header


# --- reading --------------------------------------------------------------------------------------------

def _open(path: str | Path) -> BinaryIO:
    """The recording opened for reading, refusing (without blocking) what is not a regular file of sane size."""
    p = Path(path).expanduser()
    try:
        info = os.stat(p)
        if stat.S_ISDIR(info.st_mode):
            raise WorkbenchError(f"{path} is a directory, not a recording")
        if not stat.S_ISREG(info.st_mode):
            raise WorkbenchError(f"{path} is not a regular file (a pipe or a device?), not a recording")
        # O_NONBLOCK: should the path have become a pipe since the stat, opening it does not wait for a writer
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such recording") from None
    except OSError as e:
        raise WorkbenchError(f"{path}: cannot read the recording ({e.strerror or e})") from None
    f = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        f.close()
        raise WorkbenchError(f"{path} is not a regular file (a pipe or a device?), not a recording")
    if info.st_size > MAX_BYTES:
        f.close()
        raise WorkbenchError(f"{path} is {_mib(info.st_size)}: too large for a recording (the limit is {_mib(MAX_BYTES)})")
    return f


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}".removesuffix(".0") + " MiB"


def _lines(f: BinaryIO, path: str | Path) -> Iterator[bytes]:
    """The file's lines, split on newline only (a recorded piece may hold U+2028 and the like), bounded."""
    total = 0
    for raw in f:
        total += len(raw)
        if total > MAX_BYTES:
            raise WorkbenchError(f"{path} grew past {_mib(MAX_BYTES)} while being read: too large for a recording")
        yield raw


class _Unreadable(ValueError):
    """A line that is not UTF-8 JSON at all: at the end of the file, what an interrupted recording leaves."""


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Unreadable("not UTF-8 text") from None
    except RecursionError:
        raise _Unreadable("JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, or an integer of thousands of digits
        raise _Unreadable(f"not JSON: {e}") from None


def _timed_event(raw: bytes) -> tuple[float, Event, list[str]]:
    """(t, event, why each settings change left out was) from one event line; ValueError saying what is wrong."""
    data = _parse(raw)
    if type(data) is not dict:
        raise ValueError(f"not an event (a JSON {type(data).__name__}, not an object)")
    if "t" not in data:
        raise ValueError("an event without its time t")
    try:
        t = _float(data["t"])
    except ValueError as e:
        raise ValueError(f"the time t {e}") from None
    event, refused = _event(data)
    return t, event, refused


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _ignored(reasons: dict[str, str], what: str) -> str:
    """A note on entries left out, one line however many: the count and the first one's reason."""
    first = next(iter(reasons.values()))
    return f"ignored {_plural(len(reasons), what)} ({first}{f', and {len(reasons) - 1} more' if len(reasons) > 1 else ''})"


def load(path: str | Path, *, partial: bool = False) -> Recording:
    """The recording at `path`, checked. A file that is no recording is a one-line WorkbenchError.

    A damaged line, or a last line cut off by an interrupted recording, ends the events there. With
    `partial`, the events before it are returned and `problem` says where and why; without, that line is
    a WorkbenchError. Header entries and settings changes of the wrong type are left out, noted in
    `problem` either way."""
    notes: list[str] = []
    with _open(path) as f:
        lines = _lines(f, path)
        first = next(lines, None)
        if first is None:
            raise WorkbenchError(f"{path} is empty, not a workbench recording")
        try:
            data = _parse(first)
        except ValueError:
            if first.startswith(b'{"type": "header"') and not first.endswith(b"\n"):
                raise WorkbenchError(f"{path} was cut off in its header line: nothing to replay") from None
            raise WorkbenchError(f"{path} is not a workbench recording (line 1 is not JSON)") from None
        header = _header(data, path, notes)
        events: list[tuple[float, Event]] = []
        n_refused, first_refused = 0, ""  # settings changes left out: how many, and the first one's line and reason
        for number, raw in enumerate(lines, start=2):
            if not raw.strip():
                continue
            try:
                t, event, refused_here = _timed_event(raw)
            except ValueError as e:
                rest = sum(1 for line in lines if line.strip())
                cut = rest == 0 and isinstance(e, _Unreadable)
                where = f"line {number} is cut off (the recording was interrupted)" if cut else f"line {number} is damaged ({e})"
                if not partial:
                    raise WorkbenchError(f"{path}: {where}") from None
                kept = f"replaying the {_plural(len(events), 'event')} before it" if events else "nothing before it to replay"
                skipped = f", skipping {_plural(rest, 'line')} after it" if rest else ""
                problem = "; ".join([f"{where}: {kept}{skipped}", *notes, *_refused_note(n_refused, first_refused)])
                return Recording(header, events, problem, number)
            if refused_here:
                first_refused = first_refused or f"line {number}: {refused_here[0]}"
                n_refused += len(refused_here)
            events.append((t, event))
    notes += _refused_note(n_refused, first_refused)
    return Recording(header, events, "; ".join(notes) if notes else None)


def _refused_note(n: int, first: str) -> list[str]:
    return [f"ignored {_plural(n, 'recorded settings change')} ({first}{f', and {n - 1} more' if n > 1 else ''})"] if n else []
