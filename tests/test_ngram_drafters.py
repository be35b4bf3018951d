"""llama.cpp's n-gram drafters on hand-made token sequences, each expectation worked out by hand from
llama.cpp's own code (common/ngram-map.cpp, ngram-mod.cpp, ngram-cache.cpp, speculative.cpp): a match,
no match, thresholds just met and just missed, the length cap after partial acceptance, the resets; and
the cache files in llama.cpp's format."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from workbench.engine.drafters import ngram_cache, ngram_mod
from workbench.engine.drafters.ngram_cache import NgramCacheDrafter
from workbench.engine.drafters.ngram_map import (
    MapK4vParams,
    MapKParams,
    NgramMapDrafter,
    NgramMapK4vDrafter,
    NgramMapKDrafter,
    NgramSimpleDrafter,
    SimpleParams,
)
from workbench.engine.drafters.ngram_mod import ModParams, NgramModDrafter
from workbench.engine.errors import WorkbenchError

RNG = np.random.default_rng(0)


# --- ngram-simple -------------------------------------------------------------------------------
def simple(context: list[int], n: int = 2, m: int = 3, k: int = 64) -> list[int]:
    d = NgramSimpleDrafter()
    d.begin(context)
    return d.propose(context, k, SimpleParams(n, m), RNG).tokens


def test_ngram_simple_copies_what_followed_the_most_recent_match():
    # prompt [9 1 2 3 4 5 6 1], sampled 2: the key (1 2) occurs at 1, followed by 3 4 5
    assert simple([9, 1, 2, 3, 4, 5, 6, 1, 2]) == [3, 4, 5]
    assert simple([9, 1, 2, 3, 4, 5, 6, 1, 2], k=2) == [3, 4]  # K cuts it (the session's room does)
    assert simple([9, 1, 2, 7, 1, 2, 3, 4, 5, 6, 1, 2], m=2) == [3, 4]  # the most recent of two matches


def test_ngram_simple_never_matches_at_position_0_and_needs_n_tokens_to_copy():
    assert simple([1, 2, 3, 4, 5, 6, 7, 1, 2]) == []  # the only match starts at 0, which llama.cpp skips
    # the match at 7 leaves one token to copy, fewer than n = 2: no draft (at 6 it would leave two)
    assert simple([9, 8, 7, 6, 5, 4, 3, 1, 2, 1, 2]) == []
    assert simple([9, 8, 7, 6, 5, 4, 1, 2, 3, 1, 2]) == [3, 1]
    assert simple([9, 1, 2, 3, 4, 1, 2]) == []  # 6 tokens: not more than n + m + 1


# --- ngram-map-k --------------------------------------------------------------------------------
def test_ngram_map_k_caps_a_key_at_what_was_accepted_last_time():
    d = NgramMapKDrafter()
    prompt = [5, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]
    d.begin(prompt)
    p = MapKParams(map_k_n=2, map_k_m=2)
    context = [*prompt, 1, 2]
    assert d.propose(context, 64, p, RNG).tokens == [3, 4]  # key (1 2) at 1: its m = 2 tokens
    d.accept(1, is_other=False)
    context += [3, 9, 1, 2]
    assert d.propose(context, 64, p, RNG).tokens == [3]  # capped at the 1 accepted last time
    d.accept(0, is_other=False)
    context += [13, 1, 2]
    assert d.propose(context, 64, p, RNG).tokens == []  # refused at its first token: this key drafts no more
    d.accept(5, is_other=True)  # another drafter's verdict changes nothing
    assert d.propose(context, 64, p, RNG).tokens == []


def test_ngram_map_k_does_not_look_at_the_last_n_plus_m_tokens_of_the_prompt():
    d = NgramMapKDrafter()
    prompt = [5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 13, 14]  # (1 2) starts at 8, within n+m+1 of the end
    d.begin(prompt)
    context = [*prompt, 20, 21, 22, 23, 24, 1, 2]
    assert d.propose(context, 64, MapKParams(map_k_n=2, map_k_m=2), RNG).tokens == []  # as llama.cpp


# --- ngram-map-k4v ------------------------------------------------------------------------------
def k4v(prompt: list[int], min_hits: int = 1) -> tuple[NgramMapDrafter, list[int], MapK4vParams]:
    d = NgramMapK4vDrafter()
    d.begin(prompt)
    return d, [*prompt, 1, 2], MapK4vParams(map_k4v_n=2, map_k4v_m=2, map_k4v_min_hits=min_hits)


def test_ngram_map_k4v_drafts_only_when_one_continuation_dominates():
    # (1 2) was followed by 3 4 and by 5 6 once each: 1 < 2 x 1, no draft
    d, context, p = k4v([0, 1, 2, 3, 4, 1, 2, 5, 6, 9, 9, 9, 9, 9, 9, 9])
    assert d.propose(context, 64, p, RNG).tokens == []
    # 3 4 twice, 5 6 once: 2 >= 2 x 1, just enough. llama.cpp drafts what followed the match it found (the
    # most recent, at 9: 5 6), not the dominant continuation
    d, context, p = k4v([0, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 5, 6, 9, 9, 9, 9, 9, 9, 9])
    assert d.propose(context, 64, p, RNG).tokens == [5, 6]
    # asked again, llama.cpp counts the continuation at the match again (its range includes both ends):
    # 5 6 now twice against 3 4 twice, and it no longer drafts
    assert d.propose(context, 64, p, RNG).tokens == []


def test_ngram_map_k4v_waits_for_min_hits():
    d, context, p = k4v([0, 1, 2, 3, 4, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9], min_hits=2)
    assert d.propose(context, 64, p, RNG).tokens == []  # the key's first hit
    assert d.propose(context, 64, p, RNG).tokens == [3, 4]  # its second


# --- ngram-mod ----------------------------------------------------------------------------------
PROMPT_MOD = [1, 2, 3, 4, 5, 9, 9, 9, 1, 2]


def mod(n_min: int, n_max: int) -> list[int]:
    d = NgramModDrafter()
    d.begin(PROMPT_MOD)
    return d.propose(PROMPT_MOD, 64, ModParams(mod_n_match=2, mod_n_min=n_min, mod_n_max=n_max), RNG).tokens


def test_ngram_mod_walks_the_table_and_drops_a_draft_shorter_than_n_min():
    # the table holds the windows of the prompt: (1 2)->3 (2 3)->4 (3 4)->5 (4 5)->9 (5 9)->9 (9 9)->1
    assert mod(n_min=1, n_max=4) == [3, 4, 5, 9]  # stops at n_max
    assert mod(n_min=6, n_max=8) == [3, 4, 5, 9, 9, 1]  # (9 1) is not in the table: 6 tokens, n_min met
    assert mod(n_min=7, n_max=8) == []  # just missed: the whole draft is dropped


def test_ngram_mod_resets_after_five_low_acceptance_drafts():
    d = NgramModDrafter()
    d.begin(PROMPT_MOD)
    p = ModParams(mod_n_match=2, mod_n_min=1, mod_n_max=4)
    for i in range(5):
        assert d.propose(PROMPT_MOD, 64, p, RNG).tokens == [3, 4, 5, 9], i
        d.accept(0, is_other=False)  # 0 of 4: under a quarter
    assert d.resets == 1 and d.table == {}
    assert d.propose(PROMPT_MOD, 64, p, RNG).tokens == []


def test_ngram_mod_streak_is_broken_by_a_good_draft_and_ignores_other_drafters():
    d = NgramModDrafter()
    d.begin(PROMPT_MOD)
    p = ModParams(mod_n_match=2, mod_n_min=1, mod_n_max=4)
    for verdict in (0, 0, 0, 0, 1, 0, 0, 0, 0):  # 1 of 4 is a quarter: not low
        d.propose(PROMPT_MOD, 64, p, RNG)
        d.accept(verdict, is_other=False)
        d.accept(0, is_other=True)
    assert d.resets == 0


def test_ngram_mod_empties_a_table_more_than_a_quarter_full_at_a_request_start(monkeypatch):
    monkeypatch.setattr(ngram_mod, "SIZE", 8)
    d = NgramModDrafter()
    d.begin(list(range(20)))  # 18 distinct windows in 8 slots
    d.propose(list(range(20)), 64, ModParams(mod_n_match=2, mod_n_min=1, mod_n_max=4), RNG)
    assert d.resets == 1 and d.table == {}


# --- ngram-cache --------------------------------------------------------------------------------
def cache_draft(context: list[int], k: int = 8) -> list[int]:
    return ngram_cache.draft(context, k, _counts(context), {}, {})


def _counts(tokens: list[int]) -> ngram_cache.Cache:
    c: ngram_cache.Cache = {}
    ngram_cache.update(c, tokens, 1, 4, len(tokens))
    return c


def test_ngram_cache_drafts_token_by_token_from_the_longest_confident_ngram():
    # every 4-gram has one sample, enough for n = 4: the draft runs round the cycle, K tokens long
    assert cache_draft([1, 2, 3, 4, 5, 1, 2, 3, 4]) == [5, 1, 2, 3, 4, 5, 1, 2]
    assert cache_draft([1, 2, 3, 4, 5, 1, 2, 3, 4], k=3) == [5, 1, 2]


def test_ngram_cache_thresholds_for_a_1_gram():
    assert cache_draft([7, 8, 9, 7]) == []  # (7)->8 once: a 1-gram needs 2 samples
    # (7)->8 twice and (7)->6 once: 2 of 3 = 66.7%, just over 66%
    assert cache_draft([7, 8, 3, 7, 8, 4, 7, 6, 5, 7])[:1] == [8]
    # (7)->8 twice, (7)->6 twice: 50% < 66% for a 1-gram
    assert cache_draft([7, 8, 3, 7, 8, 4, 7, 6, 5, 7, 6, 0, 7]) == []


def test_ngram_cache_dynamic_cache_is_stricter_and_the_static_cache_weighs_candidates():
    dynamic = {ngram_cache._ngram([7]): {8: 3}}  # 3 samples: the dynamic cache needs 4 for a 1-gram
    assert ngram_cache.draft([1, 7], 1, {}, dynamic, {}) == []
    dynamic = {ngram_cache._ngram([7]): {8: 4}}
    assert ngram_cache.draft([1, 7], 1, {}, dynamic, {}) == [8]
    # context: (7)->8 twice, (7)->6 once; the static 2-gram (1 7) says 6 was followed often: 6 wins
    context = _counts([7, 8, 0, 7, 8, 0, 7, 6])
    static = {ngram_cache._ngram([1, 7]): {6: 5}}
    assert ngram_cache.draft([1, 7], 1, context, {}, static) == [6]
    # the static cache alone drafts with 2 samples and a 50% share (llama.cpp's lax limits for n = 2)
    assert ngram_cache.draft([1, 7], 1, {}, {}, {ngram_cache._ngram([1, 7]): {6: 1}}) == []
    assert ngram_cache.draft([1, 7], 1, {}, {}, {ngram_cache._ngram([1, 7]): {6: 1, 5: 2}}) == [5]
    assert ngram_cache.draft([1, 7], 1, {}, {}, {ngram_cache._ngram([1, 7]): {6: 1, 5: 1, 4: 1}}) == []


def test_a_static_cache_made_by_lookup_create_is_saved_reloaded_and_drafted_from(tmp_path, capsys):
    from workbench.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 3, encoding="utf-8")
    out = tmp_path / "static.lcs"
    assert main(["lookup-create", "-f", str(corpus), "-o", str(out)]) == 0
    assert "2-grams" in capsys.readouterr().err
    cache = ngram_cache.load(out)
    assert cache and all(len(k) == 4 and k[2] == k[3] == -1 for k in cache)  # 2-grams, padded as llama.cpp
    ngram_cache.save(cache, tmp_path / "again.lcs")
    assert ngram_cache.load(tmp_path / "again.lcs") == cache
    d = NgramCacheDrafter()
    d.load_static(out)
    (ngram, part), = [(k, v) for k, v in cache.items() if max(v.values()) >= 2][:1]
    d.begin([])
    assert d.propose(list(ngram[:2]), 1, None, RNG).tokens == [max(part, key=part.get)]


def test_a_cache_written_in_llama_cpp_layout_by_hand_is_read():
    # two records: (5 6) -> {7: 3}, and (1) -> {2: 1, 4: 2}; int32 little-endian, unused tokens -1
    raw = (struct.pack("<4ii", 5, 6, -1, -1, 1) + struct.pack("<ii", 7, 3)
           + struct.pack("<4ii", 1, -1, -1, -1, 2) + struct.pack("<ii", 2, 1) + struct.pack("<ii", 4, 2))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hand.lcd"
        path.write_bytes(raw)
        assert ngram_cache.load(path) == {(5, 6, -1, -1): {7: 3}, (1, -1, -1, -1): {2: 1, 4: 2}}
        ngram_cache.save(ngram_cache.load(path), path)
        assert path.read_bytes() == raw  # written back byte for byte


def test_the_dynamic_cache_is_updated_after_a_request_and_reloaded(tmp_path):
    path = tmp_path / "dynamic.lcd"
    d = NgramCacheDrafter()
    d.use_dynamic(path)  # a missing dynamic file is a new one
    d.begin([1, 2, 3])
    d.propose([1, 2, 3, 1, 2], 4, None, RNG)
    d.finish([1, 2, 3, 1, 2], 3)
    again = NgramCacheDrafter()
    again.use_dynamic(path)
    assert again.dynamic[ngram_cache._ngram([1, 2])] == {3: 1}


@pytest.mark.parametrize("raw, why", [
    (b"\x01\x02", "ends inside a record"),
    (struct.pack("<4ii", 5, 6, -1, -1, 1000), "claims 1000 tokens"),
    (struct.pack("<4ii", 5, 6, -1, -1, -3), "claims -3 tokens"),
    (struct.pack("<4ii", 5, 6, -1, -1, 1) + struct.pack("<ii", 7, 0), "count"),
    (struct.pack("<4ii", -1, 6, -1, -1, 1) + struct.pack("<ii", 7, 1), "token ids out of range"),
])
def test_a_corrupt_cache_file_is_one_clear_error(tmp_path, raw, why):
    path = tmp_path / "bad.lcs"
    path.write_bytes(raw)
    with pytest.raises(WorkbenchError, match=why):
        ngram_cache.load(path)


def test_a_cache_with_ids_beyond_the_vocabulary_is_refused(tmp_path):
    path = tmp_path / "other.lcs"
    ngram_cache.save({(5, 600, -1, -1): {7: 1}}, path)
    with pytest.raises(WorkbenchError, match="out of range"):
        ngram_cache.load(path, n_vocab=512)
    with pytest.raises(WorkbenchError, match="no such n-gram cache"):
        ngram_cache.load(tmp_path / "missing.lcs")
