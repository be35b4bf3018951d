"""The engine on tiny generated models: exact greedy speculation, lossless sampling, rollback, events."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from workbench.engine.errors import WorkbenchError
from workbench.engine.events import Fate, SettingsEvent, Source, StepEvent
from workbench.engine.models import LoadOptions, Model
from workbench.engine.sampling import SamplingParams, probabilities
from workbench.engine.settings import LiveSettings
from workbench.engine.transcript import Transcript

PROMPTS = [
    "the model is fast and the draft is slow and the model is fast and the",
    "Hello world, this is a test of speculative decoding",
]
from drafter_cases import DRAFTERS, sized  # noqa: E402


@pytest.fixture(scope="module")
def plain(engine):
    return {p: engine.generate(p, 48, drafter="none") for p in PROMPTS}


def test_plain_decoding_matches_llama_cpp_python_greedy(tiny_target, engine, plain):
    import llama_cpp

    llm = llama_cpp.Llama(str(tiny_target), n_ctx=512, n_threads=2, verbose=False)
    try:
        for prompt in PROMPTS:
            tokens = llm.tokenize(prompt.encode())
            theirs = []
            for tok in llm.generate(tokens, temp=0.0, top_k=1, repeat_penalty=1.0):
                if llm.token_eos() == tok or len(theirs) == 48:
                    break
                theirs.append(tok)
            assert plain[prompt].emitted_ids == theirs
    finally:
        llm.close()


@pytest.mark.parametrize("drafter", DRAFTERS)
@pytest.mark.parametrize("k", [1, 4, 16])
def test_greedy_speculation_equals_plain_greedy(engine, plain, drafter, k):
    for prompt in PROMPTS:
        # gate off: on the tiny models a draft costs more than it saves, and the gate (rightly) stops drafting;
        # here every drafter's drafts must be verified (tests/test_guarantee.py checks the gate's runs token by token)
        t = engine.generate(prompt, 48, draft_gate="off", **sized(drafter, k))
        assert t.emitted_ids == plain[prompt].emitted_ids, f"{drafter} K={k} diverged on {prompt!r}"
        assert t.text == plain[prompt].text
        assert max((s.drafted for s in t.steps), default=0) <= k
        if drafter in ("draft", "chain", "ngram-mod", "ngram-simple"):
            assert t.stats.n_drafted > 0, f"{drafter} K={k} never drafted"
        if drafter == "draft":
            assert t.stats.n_drafted > 0 and 0 < t.stats.n_accepted < t.stats.n_drafted  # both fates occur


@pytest.mark.parametrize("adaptive", ["auto", "heuristic"])
@pytest.mark.parametrize("drafter", ["draft", "lookup"])
def test_adaptive_k_keeps_greedy_output_exact(engine, plain, drafter, adaptive):
    engine.k_policies.clear()  # a fresh start for each case
    asked = set()
    for prompt in PROMPTS:
        t = engine.generate(prompt, 48, drafter=drafter, draft_max=16, adaptive=adaptive)
        assert t.emitted_ids == plain[prompt].emitted_ids
        asked |= {s.k for s in t.steps}
    assert len(asked) > 1  # K really moved (the policy carries over from one prompt to the next)


def test_every_emitted_token_is_the_targets_argmax_on_a_fresh_evaluation(tiny_target, engine):
    t = engine.generate(PROMPTS[0], 48, drafter="draft", draft_max=6)
    prompt = engine.target.tokenize(PROMPTS[0])
    fresh = Model(tiny_target, LoadOptions(n_ctx=512, n_threads=2))
    try:
        seq = prompt + t.emitted_ids
        rows = fresh.eval(seq[:-1], logits="all")
        best = [int(np.argmax(r)) for r in rows]
        assert best[len(prompt) - 1:] == t.emitted_ids
    finally:
        fresh.close()


def test_rollback_leaves_the_cache_equal_to_a_fresh_evaluation(tiny_target, engine):
    t = engine.generate(PROMPTS[1], 40, drafter="draft", draft_max=8)
    assert t.stats.n_drafted > t.stats.n_accepted  # there were rejections to roll back
    context = engine.current.context
    assert engine.target.n_past == len(context) - 1
    after_rollback = engine.target.eval([context[-1]], logits="last")[0].copy()
    engine.target.truncate(len(context) - 1)
    fresh = Model(tiny_target, LoadOptions(n_ctx=512, n_threads=2))
    try:
        expected = fresh.eval(context, logits="last")[0]
        np.testing.assert_allclose(after_rollback, expected, rtol=1e-4, atol=1e-4)
    finally:
        fresh.close()


def test_draft_model_cache_follows_the_accepted_text(engine):
    # the gate off: a paused draft model catches up later, which is not what this checks
    engine.generate(PROMPTS[0], 30, drafter="draft", draft_max=4, draft_gate="off")
    cached = engine.draft.cached  # what the draft model's cache holds, as the model keeps it
    context = engine.current.context
    # the draft cache holds a prefix of the accepted context plus at most its unverified drafts
    common = 0
    while common < min(len(cached), len(context)) and cached[common] == context[common]:
        common += 1
    assert common >= len(context) - 1 - 4
    assert engine.draft.n_past == len(cached)


def first_token_counts(engine, prompt: str, drafter: str, n: int, **settings) -> np.ndarray:
    counts = np.zeros(engine.target.n_vocab)
    for seed in range(n):
        t = engine.generate(prompt, 2, drafter=drafter, seed=seed, **settings)
        counts[t.emitted_ids[0]] += 1
    return counts


@pytest.mark.parametrize("drafter", ["draft", "lookup"])
def test_sampled_speculation_follows_the_target_distribution(tiny_target, engine, drafter):
    prompt = "the model is fast and the model is fast and the model"  # lookup proposes from the first step
    params = dict(temperature=1.5, top_k=8, top_p=1.0, draft_max=4)
    fresh = Model(tiny_target, LoadOptions(n_ctx=512, n_threads=2))
    try:
        logits = fresh.eval(engine.target.tokenize(prompt), logits="last")[0].copy()
    finally:
        fresh.close()
    p = probabilities(logits, SamplingParams(1.5, 8, 1.0))
    n = 1200
    counts = first_token_counts(engine, prompt, drafter, n, **params)
    support = p > 0
    assert counts[~support].sum() == 0
    expected = n * p[support]
    chi2 = float(((counts[support] - expected) ** 2 / expected).sum())
    assert chi2 < 24.32  # chi-square critical value, 7 degrees of freedom, p = 0.001
    t = engine.generate(prompt, 40, drafter=drafter, seed=1, **params)
    assert t.stats.n_drafted > 0  # the drafter was really in play


def test_events_tag_every_token_with_source_and_fate(engine):
    t = engine.generate(PROMPTS[0], 40, drafter="draft", draft_max=4, draft_gate="off")  # gate off: see above
    fates = {e.fate for e in t.tokens}
    assert {Fate.ACCEPTED, Fate.REJECTED, Fate.CORRECTION} <= fates
    for e in t.tokens:
        if e.fate in (Fate.ACCEPTED, Fate.REJECTED):
            assert e.source is Source.DRAFT
        else:
            assert e.source is Source.TARGET
    emitted = [e for e in t.tokens if e.emitted]
    assert len(emitted) == t.stats.n_emitted == 40
    assert t.stats.n_accepted == sum(e.fate is Fate.ACCEPTED for e in t.tokens)
    assert t.stats.n_drafted == t.stats.n_accepted + sum(e.fate is Fate.REJECTED for e in t.tokens)
    assert 1.0 <= t.stats.mean_accepted_length <= 5.0
    assert len(t.stats.position_acceptance) == 4
    assert t.done.reason == "n_predict"


def test_text_pieces_are_utf8_safe(engine):
    # bytes of split characters: the pieces joined equal decoding all bytes at once
    prompt = "caf\u00e9 \u20ac \u00e9t\u00e9 \u20ac caf\u00e9 \u20ac"
    tokens = engine.target.tokenize(prompt)
    assert len(tokens) > len(prompt.split())  # multi-byte characters really are split into byte tokens
    from workbench.engine.text import PieceDecoder

    dec = PieceDecoder(engine.target.piece)
    euro = engine.target.tokenize("\u20ac", add_bos=False)
    pieces = [dec.decode(t) for t in euro]
    assert pieces[-1].endswith("\u20ac") and all("\ufffd" not in p for p in pieces)
    for drafter in ("none", "lookup"):
        t = engine.generate(prompt, 40, drafter=drafter)
        raw = b"".join(engine.target.piece(i) for i in t.emitted_ids)
        assert t.text == raw.decode("utf-8", errors="replace")


def test_settings_changed_mid_generation_apply_at_the_next_step(engine):
    settings = LiveSettings(drafter="draft", draft_max=8)
    session = engine.session(PROMPTS[0], settings)
    steps: list[StepEvent] = []
    marker = None
    for event in session.run(60):
        if isinstance(event, StepEvent):
            steps.append(event)
            if event.step == 2:
                settings.update(draft_max=2, drafter="lookup", temperature=0.8)
        elif isinstance(event, SettingsEvent):
            marker = event
    assert marker is not None and marker.step == 3
    assert marker.changes == {"draft_max": 2, "drafter": "lookup", "temperature": 0.8}
    assert all(s.k <= 2 and s.source in (Source.LOOKUP, Source.TARGET) for s in steps[3:])
    assert steps[2].k == 8


def test_bad_setting_values_are_refused_and_leave_the_settings_alone():
    s = LiveSettings(draft_max=4)
    for bad in ({"draft_max": -1}, {"draft_max": 2.5}, {"temperature": "hot"}, {"top_p": 1.5},
                {"drafter": "eagle"}, {"ngram": 0}, {"p_min": float("nan")}):
        with pytest.raises(WorkbenchError):
            s.update(**bad)
    assert s.snapshot().draft_max == 4


def test_generation_stops_cleanly_from_another_thread(engine):
    session = engine.session(PROMPTS[0], LiveSettings(drafter="lookup"))
    t = Transcript()
    for event in session.run(400):
        t.add(event)
        if isinstance(event, StepEvent) and event.step == 5:
            threading.Thread(target=session.stop).start()
            threading.Event().wait(0.05)
    assert t.done.reason == "stopped" and 6 <= t.stats.n_steps < 50
    # the session can continue where it stopped
    more = Transcript()
    for event in session.run(5):
        more.add(event)
    assert more.done.reason == "n_predict" and more.stats.n_emitted == 5


def test_context_full_stops_with_a_message_and_keeps_the_output(tiny_target):
    from workbench.engine.session import Engine

    e = Engine.load(tiny_target, None, LoadOptions(n_ctx=64, n_threads=2))
    try:
        t = e.generate(PROMPTS[0], 500, drafter="lookup", draft_max=8)
        assert t.done.reason == "context_full" and "context full" in t.done.message
        prompt_len = len(e.target.tokenize(PROMPTS[0]))
        # every position filled (llama.cpp rounds the context up to 256), the last token not yet evaluated
        assert prompt_len + t.stats.n_emitted == e.target.n_ctx + 1
        assert len(t.text) > 0
        with pytest.raises(WorkbenchError, match="longer than the context"):
            e.session("the " * (e.target.n_ctx + 10))
    finally:
        e.close()


def test_a_recurrent_target_whose_state_cannot_be_saved_refuses_speculation_and_still_generates(tiny_target):
    """Issue 14 made recurrent targets speculate (tests/test_recurrent.py); one whose state llama.cpp cannot save
    still generates plainly and says why."""
    from workbench.engine.session import Engine

    target = Model(tiny_target, LoadOptions(n_ctx=256, n_threads=2))
    target.recurrent = True  # as llama_model_is_recurrent() reports for Mamba or RWKV
    target.rollback, target.rollback_problem = None, "llama.cpp could not save its state"
    e = Engine(target)
    try:
        t = Transcript()
        for event in e.session(PROMPTS[0], LiveSettings(drafter="lookup")).run(20):
            t.add(event)
        assert any("could not save its state" in n and "generates plainly" in n for n in t.notices)
        assert t.stats.n_drafted == 0 and t.stats.n_emitted == 20
    finally:
        e.close()


def test_draft_drafter_without_a_draft_model_says_so(tiny_target):
    from workbench.engine.session import Engine

    e = Engine.load(tiny_target, None, LoadOptions(n_ctx=256, n_threads=2))
    try:
        t = e.generate(PROMPTS[0], 10, drafter="draft")
        assert any("needs a draft model" in n for n in t.notices) and t.stats.n_emitted == 10
    finally:
        e.close()


def test_a_long_prompt_reports_its_progress(tiny_target):
    from workbench.engine.events import PromptEvent, PromptProgressEvent
    from workbench.engine.session import Engine

    e = Engine.load(tiny_target, None, LoadOptions(n_ctx=512, n_threads=2, n_batch=16))
    try:
        events = list(e.session(PROMPTS[0] * 3, LiveSettings(drafter="lookup")).run(4))
        progress = [ev for ev in events if isinstance(ev, PromptProgressEvent)]
        done = next(ev for ev in events if isinstance(ev, PromptEvent))
        assert len(progress) >= 2 and [p.done for p in progress] == sorted(p.done for p in progress)
        assert progress[-1].done == progress[-1].total == done.n_tokens
        assert events.index(progress[-1]) < events.index(done)
    finally:
        e.close()


def test_draft_min_drops_drafts_shorter_than_it(engine, plain):
    prompt = PROMPTS[0]
    # gate off: it would drop the short drafts itself on the tiny models, where they cannot pay
    free = engine.generate(prompt, 48, drafter="draft", draft_max=8, p_min=0.3, draft_gate="off")
    assert any(0 < s.drafted < 3 for s in free.steps)  # p_min cuts some drafts short
    t = engine.generate(prompt, 48, drafter="draft", draft_max=8, p_min=0.3, draft_min=3, draft_gate="off")
    assert all(s.drafted == 0 or s.drafted >= min(3, s.k) for s in t.steps)  # (K may be smaller at the end)
    assert t.emitted_ids == plain[prompt].emitted_ids


@pytest.mark.parametrize("drafter", DRAFTERS)
def test_forget_leaves_no_memory_of_earlier_requests(engine, drafter):
    """Benchmarks repeat a prompt after engine.forget(): a drafter that kept its memory across requests (suffix,
    ngram-mod's table, ngram-cache's dynamic cache) would draft the earlier repetition's output."""
    runs = []
    for _ in range(2):
        engine.forget()
        engine.k_policies.clear()
        t = engine.generate(PROMPTS[0], 40, draft_gate="off", **sized(drafter, 4))
        runs.append([(s.drafted, s.accepted) for s in t.steps])
    assert runs[0] == runs[1]
