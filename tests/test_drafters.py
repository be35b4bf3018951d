"""Drafters on plain token lists, without a model."""

import numpy as np

from workbench.engine.drafters.base import Drafter, Proposal
from workbench.engine.drafters.cascade import CascadeDrafter, ChainDrafter, CombinedParams
from workbench.engine.drafters.lookup import LookupDrafter, LookupParams
from workbench.engine.drafters.suffix import SuffixDrafter, SuffixParams, SuffixTrie
from workbench.engine.events import Source

RNG = np.random.default_rng(0)


def test_lookup_proposes_what_followed_the_longest_matching_ngram():
    d = LookupDrafter()
    ctx = [1, 2, 3, 4, 5, 9, 9, 2, 3, 7, 8, 1, 2, 3]
    # the last 3 tokens (1 2 3) occurred at the start, followed by 4 5 9
    assert d.propose(ctx, 3, LookupParams(ngram=3), RNG).tokens == [4, 5, 9]
    # with n = 2 the most recent (2 3) is at position 7, followed by 7 8
    d.begin([])
    assert d.propose(ctx, 2, LookupParams(ngram=2), RNG).tokens == [7, 8]


def test_lookup_falls_back_to_shorter_ngrams_and_misses_cleanly():
    d = LookupDrafter()
    ctx = [10, 11, 12, 13, 50, 51, 11]
    # only the 1-gram (11) matches; with the gate at one hit it drafts what followed
    assert d.propose(ctx, 4, LookupParams(ngram=3, lookup_min_hits=1), RNG).tokens == [12, 13, 50, 51]
    assert d.propose([1, 2, 3], 4, LookupParams(ngram=3), RNG).tokens == []  # a fresh context: nothing seen before


def test_lookup_drafts_a_short_match_only_on_evidence():
    d = LookupDrafter()
    ctx = [10, 11, 12, 13, 50, 51, 11]
    assert d.propose(ctx, 4, LookupParams(ngram=3, lookup_min_hits=2), RNG).tokens == []  # (11)->12 seen once
    d.begin([])
    ctx = [10, 11, 12, 13, 11, 12, 14, 11]  # (11) was followed by 12 twice: enough for two hits
    assert d.propose(ctx, 2, LookupParams(ngram=3, lookup_min_hits=2), RNG).tokens == [12, 14]
    d.begin([])
    ctx = [11, 12, 11, 12, 11, 13, 11, 14, 11]  # 12 twice, but 13 and 14 too: 2 of 4 is no majority
    assert d.propose(ctx, 2, LookupParams(ngram=3, lookup_min_hits=2), RNG).tokens == []
    d.begin([])
    ctx = [7, 8, 9, 1, 7, 8, 9]  # a full-length (3-gram) match is evidence enough
    assert d.propose(ctx, 2, LookupParams(ngram=3, lookup_min_hits=5), RNG).tokens == [1, 7]


def test_suffix_trie_counts_and_removes_substrings():
    t = SuffixTrie(max_depth=4)
    t.add([1, 2, 3, 1, 2, 4])
    assert t.root.children[1].count == 2
    assert t.root.children[1].children[2].cont == 2  # (1 2) was followed by 3 and by 4
    t.remove([1, 2, 3, 1, 2, 4])
    assert t.root.children == {} and t.root.cont == 0


def test_suffix_prefers_the_frequent_continuation_and_respects_min_prob():
    t = SuffixTrie(max_depth=8)
    for seq in ([5, 6, 7, 8], [5, 6, 7, 8], [5, 6, 9, 9]):
        t.add(seq)
    tokens, score = t.propose([1, 5, 6], k=4, factor=2.0, min_prob=0.1)
    assert tokens == [7, 8] and abs(score - (2 / 3 + 2 / 3)) < 1e-9
    tokens, _ = t.propose([1, 5, 6], k=4, factor=2.0, min_prob=0.7)
    assert tokens == []  # 2/3 < 0.7: not confident enough to draft


def test_suffix_drafter_uses_earlier_outputs_and_the_current_request():
    d = SuffixDrafter(max_depth=16, factor=4.0)
    s = SuffixParams(suffix_min_prob=0.1)
    d.begin([])
    first = [1, 2, 3, 4, 5, 6, 7, 8]
    d.propose(first, 4, s, RNG)
    d.finish(first, n_prompt=2)  # the output 3..8 goes to the global trie
    d.begin([])
    prompt = [40, 41, 3, 4]
    assert d.propose(prompt, 4, s, RNG).tokens == [5, 6, 7, 8]  # from the earlier request's output
    request = [9, 10, 11, 12, 0, 9, 10]
    d.begin([])
    assert d.propose(request, 2, s, RNG).tokens == [11, 12]  # from this request


def test_suffix_global_memory_is_fifo_evicted():
    d = SuffixDrafter(max_depth=8, max_outputs=1)
    d.finish([0, 1, 2, 3], 0)
    d.finish([7, 8, 9], 0)
    assert 1 not in d.global_trie.root.children and 8 in d.global_trie.root.children


class Fixed(Drafter):
    def __init__(self, tokens, source):
        self.tokens, self.source, self.calls = tokens, source, 0
        self.verdicts = []

    def propose(self, context, k, params, rng):
        self.calls += 1
        return Proposal(self.tokens[:k], self.source)

    def accept(self, n_accepted, is_other):
        self.verdicts.append((n_accepted, is_other))


def combined_params(n: int, stages: int = 3) -> CombinedParams:
    return CombinedParams(k=8, cascade_min=n, stages=(None,) * stages)


def test_cascade_uses_retrieval_only_when_it_is_expected_to_do_as_well_as_the_draft_model():
    lookup, suffix, draft = Fixed([1], Source.LOOKUP), Fixed([2, 3, 4], Source.SUFFIX), Fixed([5, 6, 7, 8], Source.DRAFT)
    c = CascadeDrafter([lookup, suffix, draft])
    for _ in range(10):  # the draft model's drafts are all accepted; suffix's never
        c.records[id(draft)].steps.append((4, 4))
        c.records[id(suffix)].steps.append((0, 3))
    p = c.propose([0], 8, combined_params(2), RNG)
    assert (p.tokens, p.source) == ([5, 6, 7, 8], Source.DRAFT)  # an unconfident n-gram does not displace it
    c.accept(2, is_other=False)  # the verdict goes to the stage that drafted; the others hear it as is_other
    assert (lookup.verdicts, suffix.verdicts, draft.verdicts) == ([(2, True)], [(2, True)], [(2, False)])
    c.records[id(draft)].steps.clear()
    for _ in range(10):  # now the draft model is refused and suffix always accepted
        c.records[id(draft)].steps.append((0, 8))
        c.records[id(suffix)].steps.append((3, 3))
    calls = draft.calls
    p = c.propose([0], 8, combined_params(2), RNG)
    assert (p.tokens, p.source) == ([2, 3, 4], Source.SUFFIX) and draft.calls == calls  # the draft model not asked


def test_cascade_without_a_draft_model_takes_the_best_rated_proposal_of_at_least_cascade_min():
    lookup, suffix = Fixed([1], Source.LOOKUP), Fixed([2, 3, 4], Source.SUFFIX)
    c = CascadeDrafter([lookup, suffix])
    assert c.propose([0], 8, combined_params(2, 2), RNG).source == Source.SUFFIX  # lookup's 1 token is too few
    assert c.propose([0], 8, combined_params(5, 2), RNG).tokens == []  # none reaches 5


def test_chain_takes_the_first_member_that_drafts_and_counts_verdicts_per_member():
    empty, mod, draft = Fixed([], Source.NGRAM_SIMPLE), Fixed([7, 8], Source.NGRAM_MOD), Fixed([5, 6], Source.DRAFT)
    c = ChainDrafter([empty, mod, draft])
    p = c.propose([0], 8, combined_params(1), RNG)
    assert (p.tokens, p.source) == ([7, 8], Source.NGRAM_MOD) and draft.calls == 0 and empty.calls == 1
    c.accept(1, is_other=False)
    assert (empty.verdicts, mod.verdicts, draft.verdicts) == ([(1, True)], [(1, False)], [(1, True)])


def test_forget_empties_the_global_memory_even_with_a_session_open(engine):
    engine.generate("the model is fast and the", 12, drafter="suffix")
    engine.forget()
    assert engine.drafters["suffix"].global_trie.root.children == {}
    engine.generate("the model is fast and the", 4, drafter="suffix")  # starting a new request adds nothing
    assert engine.drafters["suffix"].global_trie.root.children == {}
