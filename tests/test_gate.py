"""The draft gate (engine/gate.py): drafts as long as the verdicts earned, pauses after refused single tokens."""

from __future__ import annotations

from workbench.engine import gate
from workbench.engine.gate import HORIZON, MAX_PAUSE, PROBE_AFTER, DraftGate, StepCosts


def test_a_rejection_cuts_the_next_draft_and_full_acceptance_doubles_it():
    g = DraftGate()
    assert g.allow("lookup", 8) == 8
    g.verdict("lookup", drafted=8, accepted=2, cap=8)
    assert g.allow("lookup", 8) == 3  # one more than was accepted
    g.verdict("lookup", drafted=3, accepted=3, cap=8)
    assert g.allow("lookup", 8) == 6
    g.verdict("lookup", drafted=6, accepted=6, cap=8)
    assert g.allow("lookup", 8) == 8  # the limit lifts once it reaches the drafter's own size
    assert g.allow("draft", 8) == 8  # each source has its own


def test_refused_single_tokens_pause_the_source_longer_each_time_until_one_is_accepted():
    g = DraftGate()
    g.plain_step(0.01)
    g.plain_step(0.01)  # plain steps known: no probing in this test
    g.verdict("ngram-cache", drafted=4, accepted=0, cap=8)
    assert g.allow("ngram-cache", 8) == 1
    g.verdict("ngram-cache", drafted=1, accepted=0, cap=8)
    assert [g.allow("ngram-cache", 8) for _ in range(3)] == [0, 0, 1]  # paused 2 steps
    g.verdict("ngram-cache", drafted=1, accepted=0, cap=8)
    assert [g.allow("ngram-cache", 8) for _ in range(5)] == [0, 0, 0, 0, 1]  # then 4
    for _ in range(6):
        g.verdict("ngram-cache", drafted=1, accepted=0, cap=8)
        while g.allow("ngram-cache", 8) == 0:
            pass
    g.verdict("ngram-cache", drafted=1, accepted=0, cap=8)
    assert sum(g.allow("ngram-cache", 8) == 0 for _ in range(40)) == MAX_PAUSE  # at most 16
    g.verdict("ngram-cache", drafted=1, accepted=1, cap=8)  # accepted: the pause resets, the limit grows
    assert g.allow("ngram-cache", 8) == 2
    g.verdict("ngram-cache", drafted=2, accepted=0, cap=8)
    g.verdict("ngram-cache", drafted=1, accepted=0, cap=8)
    assert [g.allow("ngram-cache", 8) for _ in range(3)] == [0, 0, 1]


def test_the_gate_shortens_drafts_in_a_run_and_off_drafts_as_llama_cpp(engine, monkeypatch):
    # the tiny model's first 10-token draft costs 14 plain steps, which no loss budget forgives in 48 tokens, and
    # its one-token drafts cost more than two plain steps; this test is about the length rule (the budget and
    # the shortest draft that pays have their own tests below)
    monkeypatch.setattr(gate, "ALLOWANCE_STEPS", 1e9)
    monkeypatch.setattr(gate.DraftGate, "worth", lambda self, source, n: True)
    prompt = "the model is fast and the draft is slow and the model is fast and the"
    on = engine.generate(prompt, 48, drafter="lookup", draft_max=16, lookup_min_hits=1)
    off = engine.generate(prompt, 48, drafter="lookup", draft_max=16, lookup_min_hits=1, draft_gate="off")
    assert on.emitted_ids == off.emitted_ids  # the gate only shortens or skips drafts
    for t in (on, off):
        assert t.stats.n_drafted > 0
    drafted = [s for s in on.steps if s.drafted]
    after_rejection = [(a.accepted, b.drafted) for a, b in zip(drafted, drafted[1:], strict=False)
                       if a.accepted < a.drafted]
    assert after_rejection and all(d <= acc + 1 for acc, d in after_rejection)
    assert any(s.drafted > 1 for s in off.steps if s.drafted) and sum(s.drafted for s in on.steps) < sum(
        s.drafted for s in off.steps)


def test_a_source_sized_beyond_k_starts_at_k_and_grows_while_accepted():
    g = DraftGate()
    assert g.allow("ngram-simple", 48, start=8) == 8
    g.verdict("ngram-simple", drafted=8, accepted=8, cap=48)
    assert g.allow("ngram-simple", 48, start=8) == 16
    g.verdict("ngram-simple", drafted=16, accepted=16, cap=48)
    g.verdict("ngram-simple", drafted=32, accepted=32, cap=48)
    assert g.allow("ngram-simple", 48, start=8) == 48
    assert DraftGate().allow("draft", 8, start=8) == 8


def test_a_source_slower_than_plain_steps_is_paused_and_judged_afresh():
    g = DraftGate()
    for _ in range(3):
        g.plain_step(0.010)  # plain decoding: 100 tokens/s
    for _ in range(4):  # 2 tokens per 0.021 s = 95 tokens/s: slower than plain (but within the loss budget)
        assert g.allow("ngram-cache", 8) > 0
        g.verdict("ngram-cache", drafted=3, accepted=1, cap=8, seconds=0.021)
    assert [g.allow("ngram-cache", 8) for _ in range(9)] == [0] * 8 + [2]  # paused 8 steps, then back
    for _ in range(4):  # 4 tokens per 0.030 s = 133 tokens/s: faster than plain, never paused
        g.verdict("draft", drafted=4, accepted=3, cap=8, seconds=0.030)
        assert g.allow("draft", 8) > 0


def test_a_drafter_that_always_proposes_is_made_to_skip_a_step_so_plain_decoding_is_measured():
    g = DraftGate()
    allowed = []
    for _ in range(14):
        n = g.allow("lookup", 8)
        allowed.append(n)
        if n:
            g.verdict("lookup", drafted=n, accepted=n, cap=8, seconds=0.01)
        else:
            g.plain_step(0.01)
    assert allowed.count(0) == 2 and allowed[6] == 0  # one plain step after 6 drafting steps, until 2 are known
    assert all(g.allow("lookup", 8) for _ in range(10))  # then no more probing



def over_budget_gate() -> DraftGate:
    g = DraftGate()
    for _ in range(3):
        g.plain_step(0.010)
    assert g.allow("suffix", 8) == 8  # nothing lost yet: no budget applies
    g.verdict("suffix", drafted=8, accepted=0, cap=8, seconds=0.051)  # 1 token in 5.1 steps' time: 41 ms lost
    assert g.allow("suffix", 8) == 0  # 41 ms is more than 1 plain step + 2% of the steps since
    return g


def wait(g: DraftGate) -> tuple[int, int]:
    """Plain steps until the source may draft again, and how much it may draft then."""
    waited = 0
    while (allowed := g.allow("suffix", 8)) == 0:
        g.plain_step(0.010)
        waited += 1
    return waited, allowed


def test_a_source_over_its_loss_budget_is_held_back_then_probes_and_waits_twice_as_long_after_a_refused_probe():
    g = over_budget_gate()
    # 2% of 64 plain steps (12.8 ms) never covers the loss; instead of waiting for it to age out (64 steps), the
    # source probes after PROBE_AFTER steps with the shortest draft that can pay
    assert wait(g) == (PROBE_AFTER, 1)
    g.verdict("suffix", drafted=1, accepted=0, cap=8, seconds=0.022)  # refused: 12 ms more lost
    assert wait(g) == (2 * PROBE_AFTER, 1)
    g.verdict("suffix", drafted=1, accepted=0, cap=8, seconds=0.022)
    assert wait(g)[0] == min(HORIZON, 4 * PROBE_AFTER)  # the hold doubles, up to the horizon


def test_an_accepted_probe_lets_the_source_draft_by_its_verdicts_until_a_rejection():
    g = over_budget_gate()
    assert wait(g) == (PROBE_AFTER, 1)  # the probe
    g.verdict("suffix", drafted=1, accepted=1, cap=8, seconds=0.015)  # accepted: on probation, the budget set aside
    assert g.allow("suffix", 8) == 2  # the length rule: twice what was accepted in full
    g.verdict("suffix", drafted=2, accepted=2, cap=8, seconds=0.016)
    assert g.allow("suffix", 8) == 4
    g.verdict("suffix", drafted=4, accepted=0, cap=8, seconds=0.030)  # rejected: probation ends, still over budget
    assert wait(g) == (2 * PROBE_AFTER, 1)  # held back, twice as long as before its probe


def test_a_source_over_its_budget_drafts_freely_again_once_its_loss_ages_out():
    g = over_budget_gate()
    for _ in range(HORIZON):
        g.plain_step(0.010)
    assert g.allow("suffix", 8) == 1  # the loss is 64 steps old: only the length rule (1 + accepted) remains


def test_a_source_that_saves_time_is_never_held_back_by_the_budget():
    g = DraftGate()
    for _ in range(3):
        g.plain_step(0.010)
    allowed = []
    for _ in range(20):
        n = g.allow("draft", 8)
        allowed.append(n)
        g.verdict("draft", drafted=n, accepted=n, cap=8, seconds=0.010 + 0.005 * n)  # a token at half a step
    assert set(allowed) == {8}
    g.verdict("draft", drafted=8, accepted=0, cap=8, seconds=0.050)
    assert g.allow("draft", 8) == 1  # the length rule still cuts a rejected draft; the budget does not
    g.verdict("draft", drafted=1, accepted=1, cap=8, seconds=0.015)
    assert g.allow("draft", 8) == 2


def test_a_draft_too_short_to_pay_is_not_made_and_what_steps_cost_outlives_the_request():
    costs = StepCosts()
    g = DraftGate(costs)
    for _ in range(3):
        g.plain_step(0.010)
    for _ in range(2):
        g.verdict("suffix", drafted=4, accepted=4, cap=8, seconds=0.030)  # 5 tokens in 3 steps' time
    assert g.worth("suffix", 1)  # not measured yet
    for _ in range(2):
        g.verdict("suffix", drafted=1, accepted=1, cap=8, seconds=0.022)  # 2 tokens in 2.2 steps' time
    assert not g.worth("suffix", 1) and g.worth("suffix", 2) and g.worth("lookup", 1)
    g.verdict("suffix", drafted=4, accepted=0, cap=8, seconds=0.030)
    assert g.allow("suffix", 8) == 2  # one more than accepted would be 1 token: too short to pay
    assert not DraftGate(costs).worth("suffix", 1)  # the next request knows it from its first step
    assert DraftGate().worth("suffix", 1)


def test_the_engine_verifies_no_draft_too_short_to_pay(engine, monkeypatch):
    monkeypatch.setattr(gate.DraftGate, "worth", lambda self, source, n: n >= 3)
    t = engine.generate("the model is fast and the draft is slow and the model is fast and the", 48,
                        drafter="lookup", draft_max=16, lookup_min_hits=1)
    drafted = [s.drafted for s in t.steps if s.drafted]
    assert drafted and min(drafted) >= 3
