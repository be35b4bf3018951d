"""`workbench deploy-check` and `--against URL` with a real llama-server, built once from the llama-cpp-python sdist
into the user cache dir (workbench/deploy/llama_build.py; the first build takes minutes, then it is reused), on the
tiny models; and the client's and the server runner's bad input."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from workbench.client import Client, parse_metrics
from workbench.deploy import llama_build
from workbench.deploy.server import LlamaServer, check_executable
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import LiveSettings
from workbench.export import command_for

PROMPT = "the model is fast and the draft is slow and the model is fast and the draft is slow and the model"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def llama_server() -> Path:
    return llama_build.ensure([llama_build.SERVER])[llama_build.SERVER]


@pytest.fixture(scope="module")
def copying_prompt(tiny_target) -> str:
    """PROMPT and the tiny model's own continuation of it: what it generates next copies the prompt, so that
    llama-server's ngram-cache drafts too (it counts the prompt's n-grams, not those of its own output)."""
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    engine = Engine.load(tiny_target, options=LoadOptions(n_ctx=512, n_threads=1))
    try:
        return PROMPT + engine.generate(PROMPT, 200, drafter="none").text
    finally:
        engine.close()


def workbench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def servers_of(model: Path) -> list[psutil.Process]:
    """Running llama-server processes on `model` (the tests' own: their tiny model lives in this session's tmp dir)."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            cmd = p.info["cmdline"] or []
            if cmd and Path(cmd[0]).name == "llama-server" and str(model) in cmd and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def check_args(target: Path, server: Path, *more: str, prompt: str = PROMPT) -> list[str]:
    return ["deploy-check", "-m", str(target), "-p", prompt, "--raw", "-n", "24", "-t", "1", "-c", "512",
            "--llama-server", str(server), *more]


def test_deploy_check_writes_both_tools_rows_and_stops_its_servers(tiny_target, llama_server, tmp_path):
    out = tmp_path / "rows.json"
    r = workbench(*check_args(tiny_target, llama_server, "--drafters", "ngram-cache,ngram-map-k", "--k", "4",
                              "--repeat", "2", "--json", str(out)))
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["rows"]
    configs = {row["config"] for row in rows}
    assert configs == {"plain", "ngram-cache K=4", "ngram-map-k K=4"}
    for config in configs:
        assert {row["tool"] for row in rows if row["config"] == config} == {"workbench", "llama-server"}
    for row in rows:
        assert set(row) >= {"config", "tool", "tokens_per_second", "speedup", "acceptance", "drafted", "accepted"}
        assert row["tokens_per_second"] > 0 and len(row["tokens_per_second_runs"]) == 2
        assert (row["acceptance"] is None) == (row["drafted"] == 0)
        if row["config"] == "plain":
            assert row["speedup"] is None and row["drafted"] == 0
        else:
            assert row["speedup"] > 0
    llama = {row["config"]: row for row in rows if row["tool"] == "llama-server"}
    assert llama["plain"]["output"] == "same"  # llama.cpp's plain decoding reproduces the workbench's
    assert "--spec-type ngram-cache" in llama["ngram-cache K=4"]["command"]
    # export's comment for what llama-server cannot run (the workbench's ngram-cache drafts up to K, llama.cpp's 8)
    assert any("ngram-cache" in note for note in llama["ngram-cache K=4"]["not_run_by_llama_server"])
    assert "llama-server could not run" in r.stdout and "workbench: its engine, in this process" in r.stdout
    assert servers_of(tiny_target) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_check_leaves_no_server(tiny_target, llama_server, sig):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = check_args(tiny_target, llama_server, "--drafters", "ngram-cache", "--repeat", "50", "-n", "200")
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not servers_of(tiny_target):  # in the middle: a llama-server of its is up
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    time.sleep(0.2)
    assert servers_of(tiny_target) == []


def refusing_server(tmp_path: Path, real: Path) -> Path:
    """A llama-server that refuses any speculative configuration, as one older than the exported flags would
    (it runs plain decoding with the real server)."""
    script = tmp_path / "llama-server"
    script.write_text(f'#!/bin/sh\ncase "$*" in *--spec-type*) echo "error: invalid argument: --spec-type" >&2; '
                      f'exit 1;; esac\nexec {real} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_a_refused_configuration_is_one_error_and_leaves_no_server(tiny_target, llama_server, tmp_path):
    r = workbench(*check_args(tiny_target, refusing_server(tmp_path, llama_server), "--drafters", "ngram-cache",
                              "--repeat", "1"))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("workbench: error: llama-server exited at start (code 1)") and "--spec-type" in last
    assert servers_of(tiny_target) == []


def test_against_a_running_llama_server_gives_deploy_checks_figures(tiny_target, llama_server, copying_prompt,
                                                                   tmp_path):
    settings = LiveSettings(drafter="ngram-cache", draft_max=8).snapshot()
    argv = shlex.split(command_for(settings, tiny_target, None, threads=1, ctx_size=512,
                                   flash_attn="off").splitlines()[-1])
    own = tmp_path / "own.json"
    r = workbench(*check_args(tiny_target, llama_server, "--drafter", "ngram-cache", "--repeat", "1", "--json",
                              str(own), prompt=copying_prompt))
    assert r.returncode == 0, r.stderr
    mine = next(row for row in json.loads(own.read_text())["rows"]
                if row["tool"] == "llama-server" and row["config"] == "ngram-cache K=8")
    assert mine["drafted"] > 0
    for command in ("deploy-check", "bench"):
        with LlamaServer([str(llama_server), *argv[1:]]) as server:  # a fresh server each: its state starts empty
            out = tmp_path / f"{command}.json"
            if command == "deploy-check":
                r = workbench(*check_args(tiny_target, llama_server, "--drafter", "ngram-cache", "--repeat", "1",
                                          "--against", server.url, "--json", str(out), prompt=copying_prompt))
            else:
                r = workbench("bench", "--against", server.url, "-p", copying_prompt, "--raw", "-n", "24",
                              "--repeat", "1", "--json", str(out))
        assert r.returncode == 0, r.stderr
        theirs = next(row for row in json.loads(out.read_text())["rows"] if row["tool"] == "endpoint")
        assert (theirs["drafted"], theirs["accepted"]) == (mine["drafted"], mine["accepted"]), command
        assert theirs["tokens_per_second"] > 0 and theirs["speedup"] is None
    assert servers_of(tiny_target) == []


# --- bad input: one clear line each -------------------------------------------------------------------------

def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("workbench: error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[-1]


def test_a_llama_server_path_that_is_not_an_executable(tiny_target, tmp_path):
    plain = tmp_path / "llama-server"
    plain.write_text("not a program\n")
    assert "not executable" in one_error_line(workbench(*check_args(tiny_target, plain)))
    assert "no such file" in one_error_line(workbench(*check_args(tiny_target, tmp_path / "missing")))
    with pytest.raises(WorkbenchError, match="not a file"):
        check_executable(tmp_path)


def test_a_server_that_exits_at_once(tiny_target, tmp_path):
    script = tmp_path / "llama-server"
    script.write_text('#!/bin/sh\necho "loading model" >&2\necho "error: this server gives up" >&2\nexit 3\n')
    script.chmod(0o755)
    line = one_error_line(workbench(*check_args(tiny_target, script, "--repeat", "1")))
    assert "llama-server exited at start (code 3)" in line and "this server gives up" in line


def test_a_port_in_use(llama_server, tiny_target):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = LlamaServer([str(llama_server), "-m", str(tiny_target)], port=port)
        with pytest.raises(WorkbenchError, match=f"port {port} on 127.0.0.1 is in use"):
            server.start()
    assert servers_of(tiny_target) == []


def test_an_unreachable_url(tiny_target):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = one_error_line(workbench("bench", "--against", f"http://127.0.0.1:{port}", "-p", "hi", "-n", "4"))
    assert f"http://127.0.0.1:{port}" in line and "cannot connect" in line
    line = one_error_line(workbench(*check_args(tiny_target, Path("/bin/true"), "--against", "localhost:9")))
    assert "not an http:// or https:// URL" in line
    with pytest.raises(WorkbenchError, match="cannot connect"), Client(f"http://127.0.0.1:{port}") as c:
        c.complete("hi", 4)


def test_metrics_parse_the_unlabelled_samples():
    page = ("# HELP llamacpp:spec_decode_num_draft_tokens_total drafted\n"
            "# TYPE llamacpp:spec_decode_num_draft_tokens_total counter\n"
            "llamacpp:spec_decode_num_draft_tokens_total 42\n"
            'llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="0"} 7\n')
    assert parse_metrics(page) == {"llamacpp:spec_decode_num_draft_tokens_total": 42.0}
    assert parse_metrics("not { a page") == {}
