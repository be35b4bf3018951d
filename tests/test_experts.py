"""MoE expert count: the override changes the computation, reloads keep the session, refusals are clear."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from workbench.engine.errors import WorkbenchError
from workbench.engine.events import StepEvent
from workbench.engine.gguf_info import inspect
from workbench.engine.models import LoadOptions, Model, expert_options
from workbench.engine.session import Engine
from workbench.engine.settings import LiveSettings
from workbench.engine.transcript import Transcript

OPTS = LoadOptions(n_ctx=512, n_threads=2)
PROMPT = "the model is fast and the draft is slow"


def last_logits(path, experts: int | None) -> np.ndarray:
    info = inspect(path)
    model = Model(path, expert_options(OPTS, info, experts) if experts is not None else OPTS)
    try:
        return model.eval(model.tokenize(PROMPT), logits="last")[0].copy()
    finally:
        model.close()


def test_the_override_changes_the_computation(tiny_moe):
    info = inspect(tiny_moe)
    assert info.is_moe and (info.expert_count, info.expert_used_count) == (4, 2)
    assert info.expert_used_key == "llama.expert_used_count"  # derived from general.architecture
    plain, one, two, four = (last_logits(tiny_moe, n) for n in (None, 1, 2, 4))
    np.testing.assert_array_equal(two, plain)  # forcing the default count changes nothing
    assert np.abs(one - plain).max() > 1e-3 and np.abs(four - plain).max() > 1e-3


def test_changing_experts_mid_run_reloads_and_continues(tiny_moe):
    engine = Engine.load(tiny_moe, None, OPTS)
    try:
        settings = LiveSettings(drafter="lookup")
        session = engine.session(PROMPT, settings)
        t = Transcript()
        for event in session.run(60):
            t.add(event)
            if isinstance(event, StepEvent) and event.step == 5:
                settings.update(experts=1)
        assert engine.experts == 1 and engine.target.options.kv_overrides == {"llama.expert_used_count": 1}
        change = next(e for e in t.settings_changes if "experts" in e.changes)
        assert change.step == 6 and t.stats.n_emitted == 60
        assert any("reloaded with 1 experts" in n for n in t.notices)
        # the text before the change is the default model's, then it continues on the reloaded one
        reference = Engine.load(tiny_moe, None, OPTS)
        try:
            before = reference.generate(PROMPT, 60, drafter="lookup").emitted_ids
        finally:
            reference.close()
        n_before = sum(s.emitted for s in t.steps[:6])
        assert t.emitted_ids[:n_before] == before[:n_before]
        # continuing the session re-evaluated the context: its cache equals a fresh evaluation
        context = session.context
        expected = Model(tiny_moe, expert_options(OPTS, inspect(tiny_moe), 1))
        try:
            want = expected.eval(context, logits="last")[0].copy()
        finally:
            expected.close()
        got = engine.target.eval([context[-1]], logits="last")[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    finally:
        engine.close()


def test_refusals(tiny_moe, tiny_target):
    moe = Engine.load(tiny_moe, None, OPTS)
    dense = Engine.load(tiny_target, None, OPTS)
    try:
        with pytest.raises(WorkbenchError, match="from 1 to 4"):
            moe.check_experts(5)
        with pytest.raises(WorkbenchError, match="not a Mixture-of-Experts model"):
            dense.check_experts(2)
        dense.check_experts(0)  # the model's own count is always fine
        # a bad count asked for mid-run is refused with a notice and the run goes on
        t = Transcript()
        settings = LiveSettings(drafter="none", experts=9)
        for event in moe.session(PROMPT, settings).run(10):
            t.add(event)
        assert any("from 1 to 4" in n for n in t.notices) and t.stats.n_emitted == 10
        assert settings.snapshot().experts == 0 and moe.experts == 0
    finally:
        moe.close()
        dense.close()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, timeout=120)


def test_experts_command_prints_one_table(tiny_moe, tmp_path):
    out = tmp_path / "experts.json"
    r = cli("experts", "-m", str(tiny_moe), "--counts", "4,2,1", "-n", "16", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "perplexity" in r.stdout and "agreement" in r.stdout and "\x1b[" not in r.stdout
    rows = {row["experts"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {4, 2, 1}
    assert rows[2]["default"] and rows[2]["agreement"] == 1.0
    assert rows[1]["agreement"] < 1.0 and rows[1]["perplexity"] != rows[2]["perplexity"]
    assert all(row["tokens_per_second"] > 0 for row in rows.values())


@pytest.mark.parametrize("args, message", [
    (["--counts", "7"], "from 1 to 4"),
    (["--counts", "x"], "whole numbers"),
])
def test_experts_command_refuses_bad_counts(tiny_moe, args, message):
    r = cli("experts", "-m", str(tiny_moe), *args)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_experts_command_on_a_dense_model(tiny_target):
    r = cli("experts", "-m", str(tiny_target))
    assert r.returncode == 1 and "not a Mixture-of-Experts model" in r.stderr


def test_headless_experts_flag(tiny_moe, tiny_target, tmp_path):
    out = tmp_path / "run.json"
    r = cli("run", "--headless", "-m", str(tiny_moe), "--experts", "1", "--drafter", "none", "-n", "8", "-p", PROMPT,
            "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["settings"]["experts"] == 1
    r = cli("run", "--headless", "-m", str(tiny_target), "--experts", "2", "-p", PROMPT)
    assert r.returncode == 1 and "not a Mixture-of-Experts model" in r.stderr
