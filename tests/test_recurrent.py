"""Speculation on a recurrent target: its state is kept aside before each verify batch and restored after a
rejection (engine/state.py), so every drafter gives plain decoding's output and the state after rejections is
the state a fresh evaluation of the same tokens reaches."""

from __future__ import annotations

import numpy as np
import pytest
from drafter_cases import DRAFTERS, PROMPTS, sized

from workbench.engine import models
from workbench.engine.errors import WorkbenchError
from workbench.engine.events import NoticeEvent
from workbench.engine.models import LoadOptions
from workbench.engine.session import Engine
from workbench.engine.state import CopyRollback, Rollback, SnapshotRollback, rollback_for

KINDS = ["copy", "snapshot"]


@pytest.fixture(scope="module")
def recurrent_engine(tiny_mamba, tiny_draft):
    e = Engine.load(tiny_mamba, tiny_draft, LoadOptions(n_ctx=512, n_threads=2))
    yield e
    e.close()


def use(engine: Engine, kind: str) -> None:
    engine.target.rollback = rollback_for(engine.target, kind)  # type: ignore[arg-type]


def test_the_target_is_recurrent_and_keeps_its_state_by_copy(recurrent_engine):
    target = recurrent_engine.target
    assert target.recurrent and target.n_seq_max == 2
    assert isinstance(target.rollback, CopyRollback)  # the engine's default where a spare sequence exists
    assert recurrent_engine.no_speculation is None
    assert recurrent_engine.available("lookup") is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("drafter", DRAFTERS)
@pytest.mark.parametrize("k", [1, 4, 16])
def test_greedy_speculation_on_a_recurrent_target_equals_plain_decoding(recurrent_engine, kind, drafter, k):
    use(recurrent_engine, kind)
    for prompt in PROMPTS:
        plain = recurrent_engine.generate(prompt, 40, drafter="none").emitted_ids
        t = recurrent_engine.generate(prompt, 40, draft_gate="off", **sized(drafter, k))
        assert t.emitted_ids == plain, prompt


@pytest.mark.parametrize("kind", KINDS)
def test_after_rejections_the_state_is_a_fresh_evaluations(recurrent_engine, kind):
    use(recurrent_engine, kind)
    session = recurrent_engine.session(PROMPTS[0])
    session.settings.update(drafter="draft", draft_max=8, draft_gate="off")
    events = list(session.run(40))
    steps = [e for e in events if type(e).__name__ == "StepEvent"]
    assert any(s.accepted < s.drafted for s in steps), "the draft model should be refused now and then"
    assert all(s.state_seconds > 0 for s in steps if s.drafted)
    target = recurrent_engine.target
    context = session.context
    assert target.n_past == len(context) - 1
    continued = np.array(target.eval([context[-1]], logits="last")[-1])
    target.truncate(0)
    target.eval(context[:-1])
    fresh = np.array(target.eval([context[-1]], logits="last")[-1])
    np.testing.assert_allclose(continued, fresh, rtol=1e-4, atol=1e-4)
    assert int(np.argmax(continued)) == int(np.argmax(fresh))


def test_the_state_cost_is_shown_in_the_stats(recurrent_engine):
    use(recurrent_engine, "copy")
    t = recurrent_engine.generate(PROMPTS[0], 30, drafter="lookup", draft_max=4, draft_gate="off")
    assert t.stats.n_state_steps > 0 and t.stats.state_ms_per_step > 0
    assert "recurrent state kept and restored" in "\n".join(t.stats.extra_lines())
    assert t.stats.to_json()["state_ms_per_step"] > 0


def test_a_draft_model_that_is_recurrent_drafts_and_forgets_its_drafts(tiny_mamba):
    """A recurrent draft (here the target itself) keeps its state aside while drafting and puts it back."""
    e = Engine.load(tiny_mamba, tiny_mamba, LoadOptions(n_ctx=512, n_threads=2))
    try:
        plain = e.generate(PROMPTS[0], 30, drafter="none").emitted_ids
        t = e.generate(PROMPTS[0], 30, drafter="draft", draft_max=4, draft_gate="off")
        assert t.emitted_ids == plain
        assert t.stats.acceptance == 1.0  # the same model drafts exactly what it then accepts
    finally:
        e.close()


def test_a_state_llama_cpp_cannot_save_means_one_line_and_plain_generation(tiny_mamba, monkeypatch):
    def refuse(model, kind=None) -> Rollback:
        raise WorkbenchError(f"llama.cpp could not save {model.info.name}'s state")

    monkeypatch.setattr(models, "rollback_for", refuse)
    e = Engine.load(tiny_mamba, None, LoadOptions(n_ctx=512, n_threads=2))
    try:
        assert e.no_speculation and "could not save" in e.no_speculation and "generates plainly" in e.no_speculation
        t = e.generate(PROMPTS[0], 20, drafter="lookup")
        assert t.stats.n_drafted == 0 and t.stats.n_emitted == 20
        notices = [ev for ev in e.session(PROMPTS[0]).run(5) if isinstance(ev, NoticeEvent)]
        assert len(notices) == 0 or all("generates plainly" in n.message for n in notices)
    finally:
        e.close()


def test_adaptive_k_says_when_restoring_the_state_costs_more_than_drafting_wins(recurrent_engine, monkeypatch):
    """A restore made to cost 50 ms a step: adaptive K stops drafting and says why, once."""
    use(recurrent_engine, "copy")
    real = Rollback.take_seconds
    monkeypatch.setattr(Rollback, "take_seconds", lambda self: real(self) + 0.05)
    recurrent_engine.k_policies.clear()
    session = recurrent_engine.session(PROMPTS[0])
    session.settings.update(drafter="lookup", adaptive="auto")
    notices = [e.message for e in session.run(120) if isinstance(e, NoticeEvent)]
    recurrent_engine.k_policies.clear()
    said = [n for n in notices if "adaptive K, drafting does not pay" in n]
    assert len(said) == 1 and "ms" in said[0]


def test_snapshot_rollback_restores_what_copy_rollback_restores(recurrent_engine):
    use(recurrent_engine, "snapshot")
    assert isinstance(recurrent_engine.target.rollback, SnapshotRollback)
    a = recurrent_engine.generate(PROMPTS[1], 30, drafter="draft", draft_max=4, draft_gate="off").emitted_ids
    use(recurrent_engine, "copy")
    b = recurrent_engine.generate(PROMPTS[1], 30, drafter="draft", draft_max=4, draft_gate="off").emitted_ids
    assert a == b
