"""Ending on a signal keeps the user's work: SIGHUP (a dropped ssh connection), SIGTERM and SIGINT save the
transcript (and finish a recording, and write --json) before the process exits with 128 + the signal."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROMPT = "the model is fast and the draft is slow and the model is fast and the"


def drain(fd: int, seconds: float) -> bytes:
    """Read what the child writes to its terminal for `seconds` (a full pty would block it)."""
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def wait_exit(pid: int, fd: int, timeout: float = 30.0) -> tuple[int, bytes]:
    """The exit code, and what the child wrote to its terminal meanwhile."""
    end = time.monotonic() + timeout
    out = b""
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), out + drain(fd, 0.2)
        out += drain(fd, 0.1)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("the app did not exit after the signal")


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_the_app_saves_its_transcript_and_exits_on_a_signal(tiny_target, tmp_path, signum):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm-256color", "COLUMNS": "100",
           "LINES": "30"}
    argv = [sys.executable, "-m", "workbench.cli", "-m", str(tiny_target), "--drafter", "lookup", "-p", PROMPT,
            "-n", "100000", "-c", "16384", "-t", "1", "--record", str(tmp_path / "rec.jsonl")]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app in a pseudo-terminal, as over ssh
        os.execvpe(argv[0], argv, env)
    try:
        drain(fd, 6.0)  # load (milliseconds) and generate for a while
        os.kill(pid, signum)
        code, screen = wait_exit(pid, fd)
    finally:
        os.close(fd)
    assert code == 128 + signum
    # the terminal is given back: the alternate screen left, mouse reporting off
    assert b"\x1b[?1049l" in screen and b"\x1b[?1000l" in screen
    saved = list((tmp_path / "data" / "workbench" / "transcripts").glob("*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert data["stats"]["n_predicted"] > 0 and data["prompt"] == PROMPT
    lines = (tmp_path / "rec.jsonl").read_text().splitlines()
    assert len(lines) > 2 and all(json.loads(line) for line in lines)  # every line whole


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_headless_writes_its_json_and_recording_on_a_signal(tiny_target, tmp_path, signum):
    out, rec = tmp_path / "out.json", tmp_path / "rec.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "--headless", "-m", str(tiny_target),
                          "--drafter", "lookup", "-p", PROMPT, "-n", "100000", "-c", "16384", "-t", "1",
                          "--json", str(out), "--record", str(rec)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    p.send_signal(signum)
    _, stderr = p.communicate(timeout=30)
    assert p.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "tokens/s" in stderr
    data = json.loads(out.read_text())
    assert data["stats"]["n_predicted"] > 0
    last = json.loads(rec.read_text().splitlines()[-1])
    assert last["type"] == "done" and last["reason"] == "stopped"


async def test_quitting_during_a_load_does_not_wait_for_it(tiny_target, tmp_path, monkeypatch):
    from workbench.app.app import WorkbenchApp
    from workbench.app.screens.live import LiveScreen, Opening
    from workbench.engine.session import Engine

    real_load = Engine.load

    def slow_load(*args, **kwargs):
        time.sleep(4.0)  # as a big model would
        return real_load(*args, **kwargs)

    monkeypatch.setattr(Engine, "load", slow_load)
    live = LiveScreen(prompt=PROMPT, opening=Opening(str(tiny_target), autostart=True),
                      transcripts_dir=tmp_path / "transcripts")
    app = WorkbenchApp(live)
    start = time.monotonic()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        assert live.loading_pair
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert time.monotonic() - start < 3.0
    assert live.abandoned_work and live.engine is None and live.session is None


def test_signals_module_codes():
    from workbench.signals import Interrupted, exit_code

    assert (exit_code(signal.SIGHUP), exit_code(signal.SIGINT), exit_code(signal.SIGTERM)) == (129, 130, 143)
    assert Interrupted(signal.SIGTERM).code == 143 and isinstance(Interrupted(), KeyboardInterrupt)
    assert Path(__file__).exists()


def test_a_dropped_connection_saves_and_ends_the_app(tiny_target, tmp_path):
    """As an ssh disconnect: the terminal itself goes away (the kernel sends SIGHUP, and every later write
    to the terminal fails); the app still saves and ends, within seconds."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm-256color"}
    argv = [sys.executable, "-m", "workbench.cli", "-m", str(tiny_target), "--drafter", "lookup", "-p", PROMPT,
            "-n", "100000", "-c", "16384", "-t", "1"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    drain(fd, 6.0)
    os.close(fd)  # the connection drops
    end = time.monotonic() + 30
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the app hung after its terminal went away")
    assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGHUP
    saved = list((tmp_path / "data" / "workbench" / "transcripts").glob("*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["stats"]["n_predicted"] > 0
