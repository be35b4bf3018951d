"""The derived Mixture-of-Experts (engine/moe.py): deterministic, a valid GGUF, the dense model at all experts, another
model at fewer; its expert count live in the app and measured by `workbench experts --against`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tinymodels
from test_app import make_app, run, settle, until

from workbench.engine.errors import WorkbenchError
from workbench.engine.gguf_check import check_gguf
from workbench.engine.gguf_info import inspect
from workbench.engine.models import LoadOptions, Model, expert_options
from workbench.engine.moe import N_EXPERTS, derive_moe
from workbench.engine.session import Engine

OPTS = LoadOptions(n_ctx=512, n_threads=2)
TEXT = "the model is fast and the draft is slow and the target will verify the draft tokens"
# All experts against the dense model: the router's softmax weights are 1/8 to within ~0.2% (ROUTER_SPREAD) and the
# sums run in another order, so logits move by a few thousandths (measured 0.003 where they reach 15)
ALL_EXPERTS_ATOL = 0.02


@pytest.fixture(scope="module")
def tiny_derived(tiny_target: Path, tmp_path_factory) -> Path:
    return derive_moe(tiny_target, tmp_path_factory.mktemp("moe") / "tiny-moe.F32.gguf", dtype="F32")


def all_logits(path: Path, experts: int | None = None) -> np.ndarray:
    info = inspect(path)
    model = Model(path, expert_options(OPTS, info, experts) if experts else OPTS)
    try:
        return np.array([row.copy() for row in model.eval(model.tokenize(TEXT), logits="all")])
    finally:
        model.close()


def test_the_derivation_is_deterministic_checked_and_loads(tiny_target, tiny_derived, tmp_path):
    again = derive_moe(tiny_target, tmp_path / "again.gguf", dtype="F32")
    assert again.read_bytes() == tiny_derived.read_bytes()
    check_gguf(tiny_derived)  # the bounded header check every model passes before llama.cpp reads it
    info = inspect(tiny_derived)
    assert (info.arch, info.expert_count, info.expert_used_count) == ("deepseek", N_EXPERTS, N_EXPERTS)
    assert info.n_vocab == inspect(tiny_target).n_vocab
    # made once: asking again leaves the file alone
    mtime = tiny_derived.stat().st_mtime_ns
    assert derive_moe(tiny_target, tiny_derived, dtype="F32") == tiny_derived and tiny_derived.stat().st_mtime_ns == mtime
    assert not list(tiny_derived.parent.glob("*.partial"))


def test_all_experts_are_the_dense_model(tiny_target, tiny_derived):
    dense, moe = all_logits(tiny_target), all_logits(tiny_derived)
    np.testing.assert_allclose(moe, dense, atol=ALL_EXPERTS_ATOL, rtol=0)
    assert (moe.argmax(axis=1) == dense.argmax(axis=1)).all()


def test_fewer_experts_change_the_logits(tiny_target, tiny_derived):
    dense = all_logits(tiny_target)
    gaps = [np.abs(all_logits(tiny_derived, n) - dense).max() for n in (6, 4, 1)]
    assert all(gap > 0.5 for gap in gaps), gaps


def test_the_derivation_refuses_what_it_cannot_split(tiny_derived, tiny_mamba, models_dir, tmp_path):
    with pytest.raises(WorkbenchError, match="already a Mixture-of-Experts"):
        derive_moe(tinymodels.write_model(models_dir / "llama-moe.gguf", tinymodels.TinySpec(n_expert=4, n_expert_used=2)),
                   tmp_path / "x.gguf")
    with pytest.raises(WorkbenchError, match="dense llama-architecture"):
        derive_moe(tiny_mamba, tmp_path / "y.gguf")
    odd = tinymodels.write_model(models_dir / "odd-ff.gguf", tinymodels.TinySpec(n_ff=96))
    with pytest.raises(WorkbenchError, match="multiple of 64"):
        derive_moe(odd, tmp_path / "z.gguf")
    with pytest.raises(WorkbenchError, match="F16 or F32"):
        derive_moe(tiny_derived, tmp_path / "w.gguf", dtype="Q8_0")
    assert not list(tmp_path.iterdir())


def test_out_of_range_counts_are_refused(tiny_derived):
    engine = Engine.load(tiny_derived, None, OPTS)
    try:
        for n in (9, -1):
            with pytest.raises(WorkbenchError, match="from 1 to 8"):
                engine.check_experts(n)
    finally:
        engine.close()


async def test_the_experts_control_reloads_the_derived_moe_mid_run(tiny_derived, tmp_path):
    app = make_app(tiny_derived, None, tmp_path, drafter="none")
    async with run(app) as pilot:
        await settle(pilot)
        field = app.query_one("#experts")
        assert not field.disabled and "8 experts, 8 used" in str(app.query_one("#experts-reason").render())
        await pilot.press("f2")
        await until(pilot, lambda: len(app.main.transcript.steps) >= 3)
        session = app.main.session
        field.focus()
        await pilot.press("up")  # 0 (the model's own 8) -> 1
        await until(pilot, lambda: app.main.engine.experts == 1)
        await until(pilot, lambda: len(app.main.transcript.steps) >= 20)
        await pilot.press("f3")
        await until(pilot, lambda: not app.main.running)
        t = app.main.transcript
        assert "\u2039experts=1\u203a" in app.query_one("TokenStream").text
        assert any("target reloaded with 1 experts in" in n for n in t.notices)
        change = next(e for e in t.settings_changes if "experts" in e.changes)
        emitted = t.emitted_ids
        n_before = sum(s.emitted for s in t.steps if s.step < change.step)
        prompt = session.context[:len(session.context) - len(emitted)]
    # the tokens after the change are the 1-expert model's greedy choices, given everything before them
    model = Model(tiny_derived, expert_options(LoadOptions(n_ctx=16384, n_threads=2), inspect(tiny_derived), 1))
    try:
        row = model.eval(prompt + emitted[:n_before], logits="last")[0]
        after = []
        for _ in range(5):
            after.append(int(np.argmax(row)))
            row = model.eval([after[-1]], logits="last")[0]
    finally:
        model.close()
    assert emitted[n_before:n_before + 5] == after


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "220"})  # the whole table: no column squeezed out


def test_experts_against_the_dense_model(tiny_derived, tiny_target, tmp_path):
    out = tmp_path / "rows.json"
    r = cli("experts", "-m", str(tiny_derived), "--counts", "8,4,1", "--against", str(tiny_target), "-n", "8",
            "-t", "1", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "agreement with tiny-target.gguf" in " ".join(r.stdout.split())
    rows = {row["experts"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {8, 4, 1}
    assert set(rows[8]) == {"experts", "default", "perplexity", "agreement", "tokens_per_second", "load_seconds"}
    # all experts: the dense model's choices, but where two tokens nearly tie (the text is not the tiny model's)
    assert rows[8]["default"] and rows[8]["agreement"] >= 0.99
    assert rows[1]["agreement"] < 0.9 and rows[1]["perplexity"] != rows[8]["perplexity"]  # (random weights: no order)


def test_experts_against_another_vocabulary_is_refused(tiny_derived, renamed_token_model):
    r = cli("experts", "-m", str(tiny_derived), "--against", str(renamed_token_model))
    assert r.returncode == 1 and "another vocabulary" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bench_self_draft_through_fewer_experts(tiny_derived, tmp_path):
    out = tmp_path / "bench.json"
    r = cli("bench", "-m", str(tiny_derived), "-md", str(tiny_derived), "--drafters", "none,draft,lookup",
            "--draft-experts", "2,3", "--experts", "8,4", "--k", "4", "--repeat", "1", "-n", "16", "-t", "1",
            "--json", str(out))
    assert r.returncode == 0, r.stderr
    results = json.loads(out.read_text())["results"]
    drafts = [x for x in results if x["drafter"] == "draft"]
    assert sorted((x["experts"], x["draft_experts"]) for x in drafts) == [(4, 2), (4, 3), (8, 2), (8, 3)]
    assert all(x["draft_ms_per_token"] > 0 and 0 <= x["acceptance"] <= 1 for x in drafts)
    assert "draft-experts=2" in r.stdout and "draft ms/tok" in " ".join(r.stdout.split())
    r = cli("bench", "-m", str(tiny_derived), "-md", str(tiny_derived), "--draft-experts", "9", "-n", "4")
    assert r.returncode == 1 and "from 1 to 8" in r.stderr


def test_the_status_line_shows_an_moe_drafts_count_and_cost(tiny_derived):
    from workbench.app.run_view import status_line
    from workbench.engine.settings import Settings

    engine = Engine.load(tiny_derived, tiny_derived, OPTS)
    try:
        engine.set_experts(2, draft=True)
        t = engine.generate(TEXT, 16, drafter="draft", draft_max=4)
    finally:
        engine.close()
    line = status_line(Settings(drafter="draft"), t.stats, "idle", None, 8, 2)
    cost = 1000 * t.stats.draft_seconds / t.stats.n_drafted
    assert "experts=8 draft-experts=2" in line and f"draft={cost:.1f}ms/tok" in line
    assert "draft=?" in status_line(Settings(drafter="draft"), type(t.stats)(), "idle", None, 8, 2)


def test_an_unknown_moe_quantisation_is_refused_before_any_derivation():
    from workbench.defaults import resolve_model

    with pytest.raises(WorkbenchError, match="unknown quantisation 'Q9' for embedded:moe"):
        resolve_model("embedded:moe:Q9")
