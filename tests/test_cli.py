"""The headless command's contract: output, JSON, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def workbench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_help_is_instant_and_imports_nothing_heavy():
    code = ("import sys, workbench.cli as c; c.build_parser(); "
            "print(','.join(m for m in ('llama_cpp', 'textual', 'numpy', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    assert workbench("--help").returncode == 0


def test_drafter_names_match_the_engine():
    from workbench.cli import DRAFTERS
    from workbench.engine.settings import DRAFTERS as ENGINE_DRAFTERS

    assert DRAFTERS == ENGINE_DRAFTERS


def test_run_headless_writes_plain_text_and_json(tiny_target, tiny_draft, tmp_path):
    out = tmp_path / "out.json"
    r = workbench("run", "--headless", "-m", str(tiny_target), "-md", str(tiny_draft), "--drafter", "draft",
                  "--draft-max", "4", "-n", "30", "-p", "the model is fast and the", "--json", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["text"] == r.stdout.rstrip("\n")
    assert "\x1b[" not in r.stdout  # no colour codes into a pipe
    stats = data["stats"]
    for key in ("n_predicted", "n_drafted", "n_accepted", "acceptance", "mean_accepted_length",
                "tokens_per_second", "prompt_tokens", "prompt_seconds"):
        assert key in stats
    assert stats["n_predicted"] == 30 and stats["prompt_tokens"] > 0
    assert {t["fate"] for t in data["tokens"]} >= {"accepted", "rejected"}
    assert set(data["tokens"][0]) >= {"id", "piece", "source", "fate", "step"}
    assert "".join(t["piece"] for t in data["tokens"] if t["fate"] != "rejected") == data["text"]
    assert "acceptance" in r.stderr and "tokens/s" in r.stderr


def test_prompt_from_file(tiny_target, tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("the model is fast and the")
    r = workbench("run", "--headless", "-m", str(tiny_target), "--drafter", "suffix", "-n", "8", "-f", str(prompt))
    assert r.returncode == 0, r.stderr and r.stdout.strip()


@pytest.mark.parametrize("args, message", [
    (["-m", "{missing}"], "no such file"),
    (["-m", "{not_gguf}"], "is not a GGUF model file"),
    (["-m", "{truncated}"], "truncated"),
    (["-m", "{target}", "-md", "{renamed}"], "token 300 differs"),
    (["-m", "{target}", "--drafter", "draft"], "needs a draft model"),
    (["-m", "{target}", "--draft-max", "-1"], "draft_max must be"),
    (["-m", "{target}", "--temp", "9"], "temperature must be"),
    (["-m", "{target}", "--top-p", "2"], "top_p must be"),
    (["-m", "{target}", "-n", "0"], "-n must be at least 1"),
    (["-m", "{target}", "-c", "5"], "context size"),
    (["-m", "{target}", "-f", "{missing}"], "no such prompt file"),
    (["-m", "{target}", "--drafter", "eagle"], "unknown drafter 'eagle'"),
    (["-m", "{target}", "--draft-max", "lots"], "K must be a whole number, 'auto' or 'heuristic'"),
])
def test_bad_input_gets_one_line_and_no_traceback(args, message, tiny_target, not_gguf, truncated_gguf,
                                                  renamed_token_model, tmp_path):
    paths = dict(missing=str(tmp_path / "missing.gguf"), not_gguf=str(not_gguf), truncated=str(truncated_gguf),
                 target=str(tiny_target), renamed=str(renamed_token_model))
    argv = [a.format(**paths) for a in args]
    if "-f" not in argv:
        argv += ["-p", "hello"]
    r = workbench("run", "--headless", *argv)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_missing_prompt(tiny_target):
    r = workbench("run", "--headless", "-m", str(tiny_target))
    assert r.returncode == 1 and "give a prompt" in r.stderr


def test_prompt_longer_than_the_context(tiny_target):
    r = workbench("run", "--headless", "-m", str(tiny_target), "-c", "64", "-p", "the " * 400)
    assert r.returncode == 1 and "longer than the context" in r.stderr and "Traceback" not in r.stderr


def test_bench_prints_speedups(tiny_target, tiny_draft, tmp_path):
    out = tmp_path / "bench.json"
    r = workbench("bench", "-m", str(tiny_target), "-md", str(tiny_draft), "-n", "24", "--repeat", "1", "--k", "4",
                  "-p", "the model is fast and the model is", "--json", str(out))
    assert r.returncode == 0, r.stderr
    rows = {row["drafter"]: row for row in json.loads(out.read_text())["results"]}
    assert set(rows) == {"none", "lookup", "suffix", "cascade", "draft", "ngram-cache", "chain"}  # the default list
    assert rows["none"]["speedup"] == 1.0
    assert "vs plain" in r.stdout


def test_embedded_references_work_on_the_command_line(tmp_path):
    r = workbench("run", "--headless", "-m", "embedded", "--drafter", "lookup", "-n", "4", "-p", "Hello", "-t", "2")
    assert r.returncode == 0, r.stderr


def test_cross_vocab_on_the_command_line(tiny_target, models_dir):
    import tinymodels

    draft = tinymodels.cross_vocab_draft(models_dir)
    refused = workbench("run", "--headless", "-m", str(tiny_target), "-md", str(draft), "--drafter", "draft", "-n", "8",
                        "-p", "the model is")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "sizes differ" in refused.stderr and "--cross-vocab" in refused.stderr
    r = workbench("run", "--headless", "-m", str(tiny_target), "-md", str(draft), "--cross-vocab", "--drafter", "draft",
                  "--draft-max", "4", "--draft-gate", "off", "-n", "30", "-p", "the model is fast and the")
    assert r.returncode == 0, r.stderr
    assert "cross-vocabulary:" in r.stderr and "draft-model tokens translated" in r.stderr


def test_bench_shows_a_recurrent_targets_state_cost(tiny_mamba, tiny_draft, tmp_path):
    out = tmp_path / "bench.json"
    r = workbench("bench", "-m", str(tiny_mamba), "-md", str(tiny_draft), "-n", "24", "--repeat", "1", "--k", "4",
                  "--drafters", "none,draft", "-p", "the model is fast and the model is", "--json", str(out))
    assert r.returncode == 0, r.stderr
    rows = {row["drafter"]: row for row in json.loads(out.read_text())["results"]}
    assert rows["draft"]["state_ms"] > 0 and rows["none"]["state_ms"] == 0
    assert "state ms: a recurrent target" in " ".join(r.stdout.split())
