"""What the engine guarantees, checked as stated: every emitted token is the target's own choice (at T=0 its
argmax) from the logits computed for its position in the verify batch. "Equal to plain decoding" is not
assumed: it is measured and reported (engine/agreement.py), and tested here as a report."""

from __future__ import annotations

import numpy as np
import pytest
from drafter_cases import DRAFTERS, PROMPTS, sized

from workbench.engine.events import Fate, TokenEvent


def verify_rows(engine, monkeypatch) -> list[tuple[list[int], list[np.ndarray]]]:
    """Every verify batch the target evaluates: its tokens and a copy of its logits rows."""
    batches: list[tuple[list[int], list[np.ndarray]]] = []
    target = engine.target
    real = type(target).eval

    def eval_and_keep(self, tokens, logits="none"):
        rows = real(self, tokens, logits)
        if self is target and logits == "all":
            batches.append((list(tokens), [np.array(r, copy=True) for r in rows]))
        return rows

    monkeypatch.setattr(type(target), "eval", eval_and_keep)
    return batches


def check_every_token_is_the_argmax_of_its_row(engine, monkeypatch, prompt: str, n: int, **settings) -> int:
    batches = verify_rows(engine, monkeypatch)
    t = engine.generate(prompt, n, **settings)
    steps = t.steps
    assert len(steps) == len(batches)
    emitted_by_step: dict[int, list[TokenEvent]] = {}
    for e in t.tokens:
        if e.fate is not Fate.REJECTED:
            emitted_by_step.setdefault(e.step, []).append(e)
    checked = 0
    for step, (tokens, rows) in zip(steps, batches, strict=True):
        assert len(tokens) == 1 + step.drafted  # the last context token, then the draft
        for position, token in enumerate(emitted_by_step.get(step.step, [])):
            assert token.id == int(np.argmax(rows[position])), f"step {step.step} position {position}"
            checked += 1
    assert checked == t.stats.n_emitted
    return checked


@pytest.mark.parametrize("drafter", DRAFTERS)
@pytest.mark.parametrize("k", [1, 4, 16])
def test_every_greedy_token_is_the_argmax_of_the_logits_for_its_position(engine, monkeypatch, drafter, k):
    for prompt in PROMPTS:
        check_every_token_is_the_argmax_of_its_row(engine, monkeypatch, prompt, 40, **sized(drafter, k))


def test_agreement_is_reported_not_assumed(engine):
    plain = engine.generate(PROMPTS[0], 24, drafter="none").emitted_ids
    same = engine.agreement(PROMPTS[0], plain, list(plain))
    assert same.identical and same.tokens == 24 and "identical" in same.describe()
    other = list(plain)
    other[5] = (other[5] + 1) % engine.target.n_vocab
    found = engine.agreement(PROMPTS[0], plain, other)
    assert (found.first_diff, found.plain_token, found.other_token) == (5, plain[5], other[5])
    assert found.margin is not None and found.margin >= 0 and "token 5" in found.describe()
    # the engine still generates the same afterwards (its cache was re-synced)
    assert engine.generate(PROMPTS[0], 24, drafter="none").emitted_ids == plain


@pytest.mark.real_model
def test_the_guarantee_holds_on_the_real_model_with_the_chat_template(monkeypatch):
    """SmolLM2-135M Q4_1, chat template: the case where plain and speculative outputs were seen to part."""
    from workbench.defaults import resolve_model
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    e = Engine.load(resolve_model("embedded"), resolve_model("embedded"), LoadOptions(n_ctx=2048, n_threads=2))
    try:
        prompt = e.target.chat_prompt("Summarize: the city council met on Tuesday to discuss the new bus lanes, "
                                      "which residents say have cut their commute by ten minutes.")
        for drafter in ("lookup", "draft"):
            check_every_token_is_the_argmax_of_its_row(e, monkeypatch, prompt, 64, drafter=drafter, draft_max=8)
        plain = e.generate(prompt, 64, drafter="none").emitted_ids
        spec = e.generate(prompt, 64, drafter="lookup", draft_max=8).emitted_ids
        report = e.agreement(prompt, plain, spec)
        assert report.identical or (report.margin is not None and report.first_diff is not None)
    finally:
        e.close()


@pytest.mark.parametrize("drafter", ["draft", "lookup", "suffix", "cascade"])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_sequential_verification_is_plain_decoding(engine, drafter, k):
    """The batch-invariant setting: with one target pass per token, every logits row is the one plain decoding
    computes, so greedy speculation gives plain decoding's output on any model."""
    for prompt in PROMPTS:
        plain = engine.generate(prompt, 40, drafter="none").emitted_ids
        t = engine.generate(prompt, 40, drafter=drafter, draft_max=k, verify="sequential")
        assert t.emitted_ids == plain


@pytest.mark.real_model
def test_sequential_verification_equals_plain_on_the_real_model():
    from workbench.defaults import resolve_model
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    e = Engine.load(resolve_model("embedded"), resolve_model("embedded"), LoadOptions(n_ctx=2048, n_threads=2))
    try:
        for question in ("Summarize: the city council met on Tuesday to discuss the new bus lanes, which residents "
                         "say have cut their commute by ten minutes.",
                         "Write three sentences about the history of the bicycle."):
            prompt = e.target.chat_prompt(question)
            plain = e.generate(prompt, 64, drafter="none").emitted_ids
            for drafter in ("lookup", "draft"):
                t = e.generate(prompt, 64, drafter=drafter, draft_max=8, verify="sequential")
                assert t.emitted_ids == plain, drafter
    finally:
        e.close()


@pytest.mark.real_model
def test_with_flash_attention_batched_verification_is_bit_identical_on_q4_1():
    """Measured, not general (benchmarks/batch_invariance.py): on SmolLM2 Q4_1 the only batch-dependent op is
    the attention's K*Q product, which flash attention computes row by row; with it on, a verify batch's logits
    are bit-identical to one-token decoding, so greedy speculation gives plain decoding's output at full speed."""
    from workbench.defaults import resolve_model
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    e = Engine.load(resolve_model("embedded"), None, LoadOptions(n_ctx=2048, n_threads=2, flash_attn=True))
    try:
        prompt = e.target.chat_prompt("Summarize: the city council met on Tuesday to discuss the new bus lanes, "
                                      "which residents say have cut their commute by ten minutes.")
        plain = e.generate(prompt, 64, drafter="none").emitted_ids
        for k in (4, 8, 16):
            assert e.generate(prompt, 64, drafter="lookup", draft_max=k).emitted_ids == plain, k
    finally:
        e.close()
