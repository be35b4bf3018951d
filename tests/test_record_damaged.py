"""Damaged, cut and hostile recordings: load() replays what is intact and says in one line where it stops,
or refuses the file in one line. Never a traceback, never a value of the wrong type handed on."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from workbench.engine import record
from workbench.engine.errors import WorkbenchError
from workbench.engine.events import DoneEvent, Fate, NoticeEvent, PromptEvent, SettingsEvent, Source, StepEvent, TokenEvent
from workbench.engine.record import Recorder, Recording, load
from workbench.engine.settings import Settings
from workbench.engine.transcript import Transcript

EVENTS = [
    PromptEvent(12, 0.05),
    NoticeEvent("the draft model is slow [really]"),
    TokenEvent(17, " the", Source.DRAFT, Fate.ACCEPTED, 0, 0),
    TokenEvent(18, " caf\u00e9 \u65e5\u672c", Source.DRAFT, Fate.ACCEPTED, 0, 1),  # multi-byte UTF-8
    TokenEvent(19, " x", Source.DRAFT, Fate.REJECTED, 0, 2),
    TokenEvent(20, " line\u2028sep", Source.TARGET, Fate.CORRECTION, 0, 2),  # U+2028: not a line break in JSONL
    StepEvent(0, Source.DRAFT, 4, 3, 2, 3, 0.01, 0.02, 0.04),
    SettingsEvent(1, {"draft_max": 6, "temperature": 0.5}),
    TokenEvent(21, "!", Source.TARGET, Fate.PLAIN, 1, 0),
    StepEvent(1, Source.TARGET, 0, 0, 0, 1, 0.0, 0.02, 0.07),
    TokenEvent(22, " a", Source.LOOKUP, Fate.ACCEPTED, 2, 0),
    TokenEvent(23, " b", Source.TARGET, Fate.BONUS, 2, 1),
    StepEvent(2, Source.LOOKUP, 1, 1, 1, 2, 0.001, 0.02, 0.1),
    DoneEvent("n_predict", "generated 6 tokens"),
]
HEADER = {"prompt": "the prompt", "models": {"target": "t.gguf", "draft": None}, "settings": asdict(Settings())}


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    """A recording as Recorder writes it: header on line 1, EVENTS on lines 2 to 15."""
    path = tmp_path / "session.jsonl"
    recorder = Recorder(path, HEADER)
    for event in EVENTS:
        recorder.add(event)
    recorder.close()
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]  # not splitlines(): U+2028 is inside a line


def write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def edit(line: str, **changes) -> str:
    data = json.loads(line)
    data.update(changes)
    return json.dumps(data, ensure_ascii=False)


# --- intact recordings ---------------------------------------------------------------------------------

def test_round_trip(rec):
    result = load(rec)
    assert isinstance(result, Recording) and result.problem is None and result.stopped_at is None
    assert [event for _, event in result.events] == EVENTS
    assert result.header["prompt"] == "the prompt" and result.header["models"] == {"target": "t.gguf", "draft": None}
    assert result.header["settings"] == asdict(Settings())
    times = [t for t, _ in result.events]
    assert times == sorted(times) and all(isinstance(t, float) for t in times)
    header, events = load(rec)  # unpacks as the (header, events) tuple load used to return
    assert header == result.header and events == result.events


def test_round_trip_keeps_types_exactly(rec):
    for _, event in load(rec).events:
        for f in fields(event):
            value = getattr(event, f.name)
            assert type(value).__name__ == f.type or (f.type == "dict[str, Any]" and type(value) is dict), (event, f.name)


def test_blank_lines_and_crlf_are_harmless(rec, tmp_path):
    lines = lines_of(rec)
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(("\r\n".join(lines[:3]) + "\r\n\r\n" + "\n\n".join(lines[3:]) + "\n").encode())
    result = load(crlf, partial=True)
    assert result.problem is None and [e for _, e in result.events] == EVENTS


def test_header_only_is_an_empty_replay(rec, tmp_path):
    result = load(write(tmp_path / "h.jsonl", lines_of(rec)[:1]), partial=True)
    assert result.events == [] and result.problem is None


def test_a_last_line_without_newline_is_complete(rec, tmp_path):
    result = load(write(tmp_path / "n.jsonl", lines_of(rec), end=""), partial=True)
    assert result.problem is None and len(result.events) == len(EVENTS)


# --- the header ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, kept, message", [
    ({"settings": [1, 2]}, {"settings": {}}, "the header's settings is not an object ([1, 2])"),
    ({"settings": "fast"}, {"settings": {}}, "settings is not an object"),
    ({"settings": None}, {"settings": {}}, "settings is not an object"),
    ({"models": "x"}, {"models": {}}, "the header's models is not an object (\"x\")"),
    ({"models": [None]}, {"models": {}}, "models is not an object"),
    ({"models": {"target": 5, "draft": None}}, {"models": {"draft": None}}, "ignored 1 recorded model"),
    ({"models": {"target": {"a": 1}, "draft": True}}, {"models": {}}, "ignored 2 recorded models"),
    ({"prompt": 123}, {"prompt": ""}, "the header's prompt is not text (123)"),
    ({"prompt": ["a"]}, {"prompt": ""}, "prompt is not text"),
    ({"settings": {"top_k": "40", "draft_max": 8}}, {"settings": {"draft_max": 8}}, 'top_k must be a whole number, not "40"'),
    ({"settings": {"top_k": True}}, {"settings": {}}, "top_k must be a whole number, not true"),
    ({"settings": {"top_k": 4.0}}, {"settings": {}}, "top_k must be a whole number, not 4.0"),
    ({"settings": {"top_k": -1}}, {"settings": {}}, "top_k must be at least 0"),
    ({"settings": {"temperature": 99.0}}, {"settings": {}}, "temperature must be from 0.0 to 5.0"),
    ({"settings": {"temperature": "0.5"}}, {"settings": {}}, "temperature must be a number"),
    ({"settings": {"temperature": 1}}, {"settings": {"temperature": 1}}, None),  # a JSON int is a fine float
    ({"settings": {"drafter": "teleport"}}, {"settings": {}}, "unknown drafter 'teleport'"),
    ({"settings": {"drafter": 3}}, {"settings": {}}, "drafter must be text, not 3"),
    ({"settings": {"adaptive": "sometimes"}}, {"settings": {}}, "adaptive K must be one of off, auto, heuristic"),
    ({"settings": {"bogus": 1, "seed": 7}}, {"settings": {"seed": 7}}, '"bogus" is not a setting'),
    ({"settings": {"a": 1, "b": 2, "c": 3}}, {"settings": {}}, "ignored 3 recorded settings (\"a\" is not a setting, and 2 more)"),
    ({"unknown_key": [1]}, {}, None),  # keys a newer workbench might add: not handed on, not a problem
])
def test_header_entries_of_the_wrong_type_are_ignored_and_said(rec, tmp_path, changes, kept, message):
    lines = lines_of(rec)
    header = json.loads(lines[0])
    header.update(changes)
    path = write(tmp_path / "h.jsonl", [json.dumps(header), *lines[1:]])
    result = load(path)  # not a reason to stop: every event is still replayed
    assert [e for _, e in result.events] == EVENTS
    for key, value in kept.items():
        assert result.header[key] == value
    assert all(type(v) is type(getattr(Settings(), k)) for k, v in result.header["settings"].items())  # 1 -> 1.0
    assert set(result.header) == {"type", "format", "version", "prompt", "models", "settings"}
    if message is None:
        assert result.problem is None
    else:
        assert message in result.problem and "\n" not in result.problem


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"hello\n", "not a workbench recording (line 1 is not JSON)"),
    (b"\n\n", "line 1 is not JSON"),
    (b"\xff\xfe{}\n", "line 1 is not JSON"),
    (b"[1, 2]\n", "no workbench-record header"),
    (b'"workbench-record"\n', "no workbench-record header"),
    (b'{"format": "something-else"}\n', "no workbench-record header"),
    (b'{"format": ["workbench-record"]}\n', "no workbench-record header"),
    (b'{"format": "workbench-record", "version": 99}\n', "version 99"),
    (b'{"format": "workbench-record", "version": true}\n', "version true"),
    (b'{"format": "workbench-record", "version": "1"}\n', 'version "1"'),
    (b'{"format": "workbench-record", "version": 1.0}\n', "version 1.0"),
    (b'{"format": "workbench-record"}\n', "has no format version"),
    (b'{"type": "header", "format": "workbench-rec', "cut off in its header line"),
    (b"[" * 100_000 + b"\n", "line 1 is not JSON"),
])
def test_files_without_a_valid_header_are_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    for partial in (False, True):
        with pytest.raises(WorkbenchError, match="^" + str(path).replace(".", r"\.")) as e:
            load(path, partial=partial)
        assert message in str(e.value) and "\n" not in str(e.value)


# --- damaged event lines -------------------------------------------------------------------------------

# (the line to damage as an index into lines_of(rec), so EVENTS[index - 1] on file line index + 1; the fields
# to change; what the message says)
PROMPT, NOTICE, TOKEN, STEP, SETTINGS, DONE = 1, 2, 3, 7, 8, 14
DAMAGE = [
    (TOKEN, {"piece": 123}, "a token event's piece must be text, not 123"),
    (TOKEN, {"piece": None}, "piece must be text, not null"),
    (TOKEN, {"id": True}, "id must be a whole number, not true"),
    (TOKEN, {"id": -1}, "id must be a whole number from 0, not -1"),
    (TOKEN, {"id": 7.0}, "id must be a whole number, not 7.0"),
    (TOKEN, {"id": "7"}, 'id must be a whole number, not "7"'),
    (TOKEN, {"id": 10**30}, "id must be a whole number from 0"),
    (TOKEN, {"step": -4}, "step must be a whole number from 0, not -4"),
    (TOKEN, {"source": "teleport"}, 'source must be one of target, draft, lookup, suffix, ngram-simple, '
                                    'ngram-map-k, ngram-map-k4v, ngram-mod, ngram-cache, not "teleport"'),
    (TOKEN, {"source": 1}, "source must be one of"),
    (TOKEN, {"fate": "ACCEPTED"}, "fate must be one of accepted, rejected, correction, bonus, plain"),
    (TOKEN, {"fate": ["accepted"]}, "fate must be one of"),
    (TOKEN, {"draft_pos": 1000}, "draft_pos 1000 is more than 64"),
    (TOKEN, {"source": "target"}, "a token event where fate accepted does not go with source target"),
    (TOKEN, {"type": "tokens"}, 'unknown event type "tokens"'),
    (TOKEN, {"type": 5}, "unknown event type 5"),
    (TOKEN, {"type": "header"}, 'unknown event type "header"'),
    (TOKEN, {"t": -1}, "the time t must be a finite number from 0, not -1"),
    (TOKEN, {"t": "0.5"}, 'the time t must be a number, not "0.5"'),
    (TOKEN, {"t": True}, "the time t must be a number, not true"),
    (TOKEN, {"t": None}, "the time t must be a number, not null"),
    (TOKEN, {"t": math.nan}, "the time t must be a finite number from 0, not NaN"),
    (TOKEN, {"t": math.inf}, "the time t must be a finite number from 0, not Infinity"),
    (TOKEN, {"t": -math.inf}, "not -Infinity"),
    (STEP, {"drafted": -3}, "a step event's drafted must be a whole number from 0, not -3"),
    (STEP, {"accepted": -200}, "accepted must be a whole number from 0, not -200"),
    (STEP, {"emitted": -1}, "emitted must be a whole number from 0"),
    (STEP, {"k": False}, "k must be a whole number, not false"),
    (STEP, {"accepted": 4}, "accepted 4 <= drafted 3 <= K 4 does not hold"),
    (STEP, {"drafted": 5}, "accepted 2 <= drafted 5 <= K 4 does not hold"),
    (STEP, {"k": 10**6, "drafted": 10**6}, "K 1000000 is more than 64"),
    (STEP, {"emitted": 9}, "emitted 9 is more than accepted 2 + 1"),
    (STEP, {"time": -17.4}, "time must be a finite number from 0, not -17.4"),
    (STEP, {"time": math.nan}, "time must be a finite number from 0, not NaN"),
    (STEP, {"draft_seconds": math.inf}, "draft_seconds must be a finite number from 0, not Infinity"),
    (STEP, {"verify_seconds": "0.1"}, "verify_seconds must be a number"),
    (STEP, {"source": "suffix cache"}, "source must be one of"),
    (PROMPT, {"n_tokens": -5}, "a prompt event's n_tokens must be a whole number from 0, not -5"),
    (PROMPT, {"seconds": [0.1]}, "seconds must be a number, not [0.1]"),
    (NOTICE, {"message": None}, "a notice event's message must be text, not null"),
    (NOTICE, {"message": {"text": "hi"}}, "message must be text"),
    (SETTINGS, {"changes": [1]}, "a settings event's changes must be an object, not [1]"),
    (SETTINGS, {"changes": "K=4"}, "changes must be an object"),
    (SETTINGS, {"step": 1.5}, "step must be a whole number, not 1.5"),
    (DONE, {"reason": 5}, "a done event's reason must be text, not 5"),
]


def damaged(rec: Path, tmp_path: Path, index: int, change) -> Path:
    """The recording with event line `index + 1` (EVENTS[index - 1]) replaced."""
    lines = lines_of(rec)
    if isinstance(change, dict):
        data = json.loads(lines[index])
        data.update(change)
        for key in [k for k, v in change.items() if v is ...]:
            del data[key]
        lines[index] = json.dumps(data, ensure_ascii=False)
    else:
        lines[index] = change
    return write(tmp_path / "damaged.jsonl", lines)


@pytest.mark.parametrize("index, change, message", DAMAGE)
def test_a_damaged_event_line_stops_the_replay_there(rec, tmp_path, index, change, message):
    path = damaged(rec, tmp_path, index, change)
    line = index + 1
    result = load(path, partial=True)
    assert [e for _, e in result.events] == EVENTS[: index - 1]
    assert result.stopped_at == line
    assert result.problem.startswith(f"line {line} is damaged (") and message in result.problem, result.problem
    assert "\n" not in result.problem
    rest = len(EVENTS) - index
    before = f"replaying the {index - 1} event{'s' * (index != 2)} before it" if index > 1 else "nothing before it to replay"
    assert result.problem.endswith(f"{before}, skipping {rest} line{'s' * (rest != 1)} after it" if rest else before)
    with pytest.raises(WorkbenchError, match=f"line {line} is damaged"):
        load(path)


@pytest.mark.parametrize("raw, message", [
    ("garbage{", "not JSON"),
    ("[1, 2]", "not an event (a JSON list, not an object)"),
    ('"token"', "not an event (a JSON str, not an object)"),
    ("null", "not an event"),
    ("17", "not an event"),
    ('{"type": "token"}', "an event without its time t"),
    ('{"t": 1}', "no event type"),
    ('{"type": "token", "t": 1}', "a token event without id"),
    ('{"type": "step", "t": 1, "step": 0}', "a step event without source"),
    ("[" * 100_000, "JSON nested too deeply"),
    ('{"type": "token", "t": 1, "id": ' + "9" * 5000 + "}", "not JSON"),  # past Python's int-digit limit
    ("{\"type\": \"notice\", \"t\": 1, \"message\": \"\xe9\"}".encode("latin-1"), "not UTF-8 text"),
])
def test_unparsable_middle_lines_are_damage_not_a_cut(rec, tmp_path, raw, message):
    lines = lines_of(rec)
    path = tmp_path / "damaged.jsonl"
    body = [line.encode() for line in lines]
    body[6] = raw if isinstance(raw, bytes) else raw.encode()
    path.write_bytes(b"\n".join(body) + b"\n")
    result = load(path, partial=True)
    assert len(result.events) == 5 and result.stopped_at == 7
    assert result.problem.startswith("line 7 is damaged (") and message in result.problem, result.problem
    assert "replaying the 5 events before it, skipping 8 lines after it" in result.problem
    with pytest.raises(WorkbenchError, match="line 7 is damaged"):
        load(path)


def test_the_first_event_damaged_leaves_nothing_to_replay(rec, tmp_path):
    result = load(damaged(rec, tmp_path, 1, {"n_tokens": "12"}), partial=True)
    assert result.events == [] and result.stopped_at == 2
    assert "nothing before it to replay" in result.problem


def test_a_damaged_last_line_that_is_json_is_damage(rec, tmp_path):
    result = load(damaged(rec, tmp_path, len(EVENTS), {"reason": None}), partial=True)
    assert result.problem.startswith(f"line {len(EVENTS) + 1} is damaged")
    assert result.problem.endswith(f"replaying the {len(EVENTS) - 1} events before it")


def test_invalid_settings_changes_are_left_out_and_said(rec, tmp_path):
    path = damaged(rec, tmp_path, SETTINGS, {"changes": {"draft_max": "six", "temperature": 0.5, "bogus": 1, "top_k": True}})
    result = load(path)
    assert len(result.events) == len(EVENTS)
    assert result.events[SETTINGS - 1][1] == SettingsEvent(1, {"temperature": 0.5})
    assert result.problem == 'ignored 3 recorded settings changes (line 9: draft_max must be a whole number, not "six", and 2 more)'


def test_a_missing_field_with_a_default_takes_it(rec, tmp_path):
    result = load(damaged(rec, tmp_path, SETTINGS, {"changes": ...}))
    assert result.events[SETTINGS - 1][1] == SettingsEvent(1, {}) and result.problem is None


def test_extra_fields_are_ignored(rec, tmp_path):
    result = load(damaged(rec, tmp_path, TOKEN, {"logprob": -0.5, "colour": [1]}))
    assert [e for _, e in result.events] == EVENTS and result.problem is None


def test_negative_counts_never_reach_the_stats(rec, tmp_path):
    """The issue's `acc=-200.0% tok/s=-17.4`: such a step is refused, the stats stay those of the steps before it."""
    lines = lines_of(rec)
    lines[STEP] = edit(lines[STEP], drafted=-1, accepted=-2, time=-17.4)
    result = load(write(tmp_path / "neg.jsonl", lines), partial=True)
    t = Transcript()
    for _, event in result.events:
        t.add(event)
    assert t.stats.n_steps == 0 and t.stats.acceptance == 0.0 and t.stats.tokens_per_second == 0.0
    assert "drafted must be a whole number from 0, not -1" in result.problem


def test_problems_in_header_and_a_line_come_in_one_line(rec, tmp_path):
    lines = lines_of(rec)
    lines[0] = edit(lines[0], settings=[1, 2], models="x")
    lines[10] = lines[10][:-3]  # cut in the middle of a later line: damage, not a cut (lines follow)
    result = load(write(tmp_path / "both.jsonl", lines), partial=True)
    assert result.problem.startswith("line 11 is damaged (not JSON")
    assert "the header's settings is not an object" in result.problem and "models is not an object" in result.problem
    assert "\n" not in result.problem and len(result.events) == 9


# --- cut recordings ------------------------------------------------------------------------------------

def test_a_cut_last_line_replays_every_event_before_it(rec, tmp_path):
    data = rec.read_bytes()
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[:-7])
    result = load(path, partial=True)
    last = len(EVENTS) + 1
    assert [e for _, e in result.events] == EVENTS[:-1] and result.stopped_at == last
    assert result.problem == f"line {last} is cut off (the recording was interrupted): replaying the {len(EVENTS) - 1} events before it"
    with pytest.raises(WorkbenchError, match=f"line {last} is cut off"):
        load(path)


def test_a_cut_inside_a_multibyte_character(rec, tmp_path):
    data = rec.read_bytes()
    start = data.index("\u65e5".encode())
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[: start + 1])  # half of a three-byte character: not UTF-8 any more
    result = load(path, partial=True)
    assert [e for _, e in result.events] == EVENTS[:3]
    assert result.problem == "line 5 is cut off (the recording was interrupted): replaying the 3 events before it"


def test_every_cut_point_replays_a_prefix_or_refuses_in_one_line(rec, tmp_path):
    """Cut the recording at every byte: load never raises anything but a WorkbenchError (and that only
    within the header line), and the events it keeps are always the first events of the recording."""
    data = rec.read_bytes()
    header_end = data.index(b"\n") + 1
    path = tmp_path / "cut.jsonl"
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        try:
            result = load(path, partial=True)
        except WorkbenchError as e:
            assert cut < header_end and "\n" not in str(e), (cut, e)
            continue
        assert cut >= header_end - 1
        n = len(result.events)
        assert [e for _, e in result.events] == EVENTS[:n], cut
        if result.problem is not None:
            assert "is cut off (the recording was interrupted)" in result.problem, (cut, result.problem)
            assert result.stopped_at == n + 2


# --- files that are not recordings at all --------------------------------------------------------------

def test_missing_file_and_directory(tmp_path):
    with pytest.raises(WorkbenchError, match="no such recording"):
        load(tmp_path / "missing.jsonl")
    with pytest.raises(WorkbenchError, match="is a directory, not a recording"):
        load(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "rec.jsonl"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def try_load() -> None:
        try:
            load(fifo, partial=True)
            outcome.append(None)
        except Exception as e:
            outcome.append(e)

    worker = threading.Thread(target=try_load, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("load() blocked on a FIFO")
    assert isinstance(outcome[0], WorkbenchError) and "not a regular file" in str(outcome[0])


def test_unreadable_file(rec):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    rec.chmod(0)
    with pytest.raises(WorkbenchError, match="cannot read the recording"):
        load(rec)


def test_a_file_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "MAX_BYTES", 2**20)
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"x" * (3 * 2**19))
    with pytest.raises(WorkbenchError, match=r"big\.jsonl is 1\.5 MiB: too large for a recording \(the limit is 1 MiB\)$"):
        load(path, partial=True)


def test_the_limit_is_generous():
    assert record.MAX_BYTES >= 256 * 2**20


def test_many_lines_load_quickly(tmp_path):
    path = tmp_path / "long.jsonl"
    recorder = Recorder(path, HEADER)
    n = 50_000
    for i in range(n):
        recorder.add(TokenEvent(i % 500, " w", Source.TARGET, Fate.PLAIN, i, 0))
        recorder.add(StepEvent(i, Source.TARGET, 0, 0, 0, 1, 0.0, 0.001, i * 0.01))
    recorder.close()
    with path.open("a") as f:
        f.write('{"type": "step", "t": 1.0, "step": 0, "sou')  # and cut at the end
    start = time.perf_counter()
    result = load(path, partial=True)
    seconds = time.perf_counter() - start
    assert len(result.events) == 2 * n and result.stopped_at == 2 * n + 2
    assert result.problem == f"line {2 * n + 2} is cut off (the recording was interrupted): replaying the {2 * n} events before it"
    assert seconds < 10, seconds  # about 1 s on a slow shared machine


def test_a_long_value_is_shortened_in_the_message(rec, tmp_path):
    result = load(damaged(rec, tmp_path, TOKEN, {"piece": ["x" * 10_000]}), partial=True)
    assert len(result.problem) < 200 and "..." in result.problem
