"""The journal: a run's output is on disk as it is made, so a death nobody can catch (SIGBUS from a model file
cut under the process, SIGKILL) loses at most a step, and the next start offers the run back."""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_signals import PROMPT, drain

REPO = Path(__file__).resolve().parent.parent


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}


def data(tmp_path: Path) -> Path:
    return tmp_path / "data" / "workbench"


def wait_generating(tmp_path: Path, timeout: float = 60.0, fd: int | None = None) -> None:
    """Until the run's journal holds a few steps (a loaded machine may take seconds to load the model); `fd`:
    a pseudo-terminal to keep reading meanwhile (a full one would block the app)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for path in (data(tmp_path) / "journal").glob("run-*.jsonl"):
            if path.read_text().count('"type": "step"') >= 20:
                return
        drain(fd, 0.1) if fd is not None else time.sleep(0.1)
    raise AssertionError("the run did not start generating")


def journal_tokens(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    whole = []
    for line in lines:
        try:
            whole.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the line being written when the process died
    assert whole[0]["type"] == "header"
    return [e for e in whole if e["type"] == "token"]


def test_a_model_cut_under_a_headless_run_loses_nothing_written(tiny_target: Path, tmp_path: Path) -> None:
    model = tmp_path / "copy.gguf"
    shutil.copy(tiny_target, model)
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:
        p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "--headless", "-m", str(model),
                              "--drafter", "lookup", "-p", PROMPT, "-n", "100000", "-c", "16384", "-t", "1"],
                             stdout=stdout, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path), cwd=REPO)
        wait_generating(tmp_path)
        os.truncate(model, model.stat().st_size // 2)
        _, stderr = p.communicate(timeout=60)
    text = out.read_text()
    assert text.strip(), "stdout's file is empty: the text was still buffered"
    if p.returncode == -signal.SIGBUS:  # the cut hit inside a decode: the process died there
        journals = list((data(tmp_path) / "journal").glob("run-*.jsonl"))
        assert len(journals) == 1
        tokens = journal_tokens(journals[0])
        assert tokens and text.startswith("".join(t["piece"] for t in tokens if t["fate"] != "rejected")[:50])
        logs = list(data(tmp_path).glob("fatal-*.log"))
        assert len(logs) == 1 and "Bus error" in logs[0].read_text()
        assert f"died of a fatal signal (Bus error); tracebacks in {logs[0]}" in stderr
        # the next start turns the journal into a transcript and says where it is
        done = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--headless", "-m", str(tiny_target),
                               "-p", "x", "-n", "1", "-t", "1"], capture_output=True, text=True, env=env_for(tmp_path),
                              cwd=REPO, timeout=60)
        assert "recovered an unsaved run" in done.stderr
        assert len(list((data(tmp_path) / "transcripts").glob("*.json"))) == 1
    else:  # the change was seen between two steps: one line naming the file, everything written
        assert p.returncode == 1, stderr
        assert f"the model file {model} changed size" in stderr


def test_a_model_written_in_place_stops_the_run_at_the_next_step(tiny_target: Path, tmp_path: Path) -> None:
    model = tmp_path / "copy.gguf"
    shutil.copy(tiny_target, model)
    out = tmp_path / "out.json"
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "--headless", "-m", str(model), "-p", PROMPT,
                          "-n", "100000", "-c", "16384", "-t", "1", "--json", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path), cwd=REPO)
    wait_generating(tmp_path)
    os.utime(model, ns=(time.time_ns(), time.time_ns()))  # as a copy over it would (same size, new mtime)
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 1
    assert f"the model file {model} was written to while in use: the run stops" in stderr
    assert json.loads(out.read_text())["stats"]["n_predicted"] > 0
    assert not list((data(tmp_path) / "journal").glob("*.jsonl"))  # kept in --json: the journal is gone


def test_the_app_killed_then_started_again_offers_the_run_back(tiny_target: Path, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "workbench.cli", "-m", str(tiny_target), "--drafter", "lookup", "-p", PROMPT,
            "-n", "100000", "-c", "16384", "-t", "1"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env_for(tmp_path))
    try:
        wait_generating(tmp_path, fd=fd)
        drain(fd, 1.0)
        os.kill(pid, signal.SIGKILL)  # nothing can be saved at the end: only what was written as it came
        os.waitpid(pid, 0)
        after = drain(fd, 1.0)
    finally:
        os.close(fd)
    assert b"\x1b[?1049l" in after and b"\x1b[?1000l" in after  # the crash guardian gave the terminal back
    journals = list((data(tmp_path) / "journal").glob("run-*.jsonl"))
    assert len(journals) == 1 and journal_tokens(journals[0])
    n_tokens = len([t for t in journal_tokens(journals[0]) if t["fate"] != "rejected"])

    argv = [sys.executable, "-m", "workbench.cli", "-m", str(tiny_target)]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env_for(tmp_path))
    try:
        screen, end = b"", time.monotonic() + 30
        while b"recovered an unsaved run" not in screen and time.monotonic() < end:
            screen += drain(fd, 0.2)
        os.kill(pid, signal.SIGTERM)
        screen += drain(fd, 2.0)
        os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert b"recovered an unsaved run" in screen
    saved = list((data(tmp_path) / "transcripts").glob("*.json"))
    assert len(saved) == 1 and len(json.loads(saved[0].read_text())["tokens"]) >= n_tokens
    assert not list((data(tmp_path) / "journal").glob("*.jsonl"))
    assert len(list((data(tmp_path) / "recordings").glob("recovered-*.jsonl"))) == 1


def test_two_recordings_started_in_the_same_second_get_two_files(tmp_path: Path, monkeypatch) -> None:
    from workbench.app.keeper import Keeper, RunRecord
    from workbench.engine.settings import Settings
    from workbench.engine.transcript import Transcript

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    run = RunRecord(Transcript(), "p", Settings(), {"target": "t.gguf"})
    keepers = [Keeper(lambda *a, **k: None, tmp_path / "t") for _ in range(2)]
    for k in keepers:
        k.start_recording(run)
    paths = {k.recorder.path for k in keepers}
    for k in keepers:
        k.stop_recording()
    assert len(paths) == 2 and all(json.loads(p.read_text().splitlines()[0])["type"] == "header" for p in paths)


def test_a_journal_is_recovered_as_a_transcript_only_once_its_process_is_gone(tmp_path: Path) -> None:
    from workbench.engine.events import DoneEvent, Fate, Source, StepEvent, TokenEvent
    from workbench.journal import Journal, orphans, recover

    journal = Journal({"prompt": "p", "models": {"target": "t.gguf"}, "settings": {}}, tmp_path / "journal")
    journal.add(TokenEvent(5, "hello", Source.TARGET, Fate.PLAIN, 0, 0))
    journal.add(StepEvent(0, Source.TARGET, 0, 0, 0, 1, 0.0, 0.01, 0.01))
    assert orphans(tmp_path / "journal") == []  # held: its process (this one) is alive
    journal.close()
    assert orphans(tmp_path / "journal") == [journal.path]
    lines = recover(tmp_path / "journal", tmp_path / "transcripts")
    assert len(lines) == 1 and "recovered an unsaved run (1 tokens)" in lines[0]
    saved = json.loads(next((tmp_path / "transcripts").glob("*.json")).read_text())
    assert saved["text"] == "hello" and saved["prompt"] == "p"
    assert not journal.path.exists() and (tmp_path / "recordings" / f"recovered-{journal.path.name}").exists()
    empty = Journal({"prompt": "p", "models": {}, "settings": {}}, tmp_path / "journal")
    empty.add(DoneEvent("stopped", "x"))
    empty.close()
    assert recover(tmp_path / "journal", tmp_path / "transcripts") == [] and not empty.path.exists()


def test_time_stopped_is_left_out_of_the_rates(tiny_target: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    begun = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "--headless", "-m", str(tiny_target),
                          "--drafter", "lookup", "-p", PROMPT, "-n", "100000", "-c", "16384", "-t", "1",
                          "--json", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path), cwd=REPO)
    wait_generating(tmp_path)
    time.sleep(1.0)
    p.send_signal(signal.SIGTSTP)
    time.sleep(5.0)  # stopped, as after ctrl+z
    p.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    _, stderr = p.communicate(timeout=60)
    wall = time.monotonic() - begun
    assert p.returncode == 143, stderr
    decode = json.loads(out.read_text())["stats"]["decode_seconds"]
    assert 0 < decode < 4.5 and decode < wall - 4.5, f"decode time {decode:.1f} s counts the 5 s the process was stopped"
