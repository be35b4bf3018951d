"""Cross-vocabulary drafting: a draft model whose vocabulary llama.cpp's rules refuse, its drafts translated
through text into the target's vocabulary (drafters/cross_vocab.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tinymodels
from drafter_cases import PROMPTS

from workbench.engine.drafters.cross_vocab import CrossVocabDrafter, valid_utf8
from workbench.engine.drafters.draft_model import DraftParams
from workbench.engine.errors import WorkbenchError
from workbench.engine.events import Fate, Source
from workbench.engine.models import IncompatibleModels, LoadOptions
from workbench.engine.session import Engine


@pytest.fixture(scope="module")
def cross_draft(models_dir, tiny_target):
    return tinymodels.cross_vocab_draft(models_dir)


@pytest.fixture(scope="module")
def cross_engine(tiny_target, cross_draft):
    e = Engine.load(tiny_target, cross_draft, LoadOptions(n_ctx=512, n_threads=2, cross_vocab=True))
    yield e
    e.close()


def test_the_pair_fails_llama_cpps_rules_and_the_refusal_names_the_rule_and_the_way_out(tiny_target, cross_draft):
    with pytest.raises(IncompatibleModels, match=r"sizes differ by more than 128.*--cross-vocab"):
        Engine.load(tiny_target, cross_draft, LoadOptions(n_ctx=512, n_threads=2))


def test_the_draft_really_has_another_vocabulary(cross_engine):
    t, d = cross_engine.target, cross_engine.draft
    assert t.n_vocab != d.n_vocab
    assert t.tokenize("the model", add_bos=False) != d.tokenize("the model", add_bos=False)
    assert cross_engine.cross_vocab and "sizes differ" in cross_engine.cross_vocab


@pytest.mark.parametrize("drafter", ["draft", "cascade", "chain"])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_greedy_cross_vocabulary_speculation_equals_plain_decoding(cross_engine, drafter, k):
    for prompt in PROMPTS:
        plain = cross_engine.generate(prompt, 40, drafter="none").emitted_ids
        t = cross_engine.generate(prompt, 40, drafter=drafter, draft_max=k, chain="draft", draft_gate="off")
        assert t.emitted_ids == plain, prompt
        if drafter == "draft":
            assert t.stats.n_accepted > 0  # translated drafts are accepted: the translation works
            assert t.stats.source_tokens > 0 and t.stats.n_translated == t.stats.n_drafted


def test_drafts_show_as_the_draft_models_and_count_in_the_targets_vocabulary(cross_engine):
    t = cross_engine.generate(PROMPTS[0], 40, drafter="draft", draft_max=4, draft_gate="off")
    drafted = [e for e in t.tokens if e.fate in (Fate.ACCEPTED, Fate.REJECTED)]
    assert drafted and {e.source for e in drafted} == {Source.DRAFT}
    assert all(e.id < cross_engine.target.n_vocab for e in drafted)
    steps = [s for s in t.steps if s.drafted]
    assert steps and all(s.source_tokens >= 1 for s in steps)
    assert "cross-vocabulary" in "\n".join(t.stats.extra_lines())


def test_sampling_with_a_translated_draft_is_lossless_rejection_sampling_of_a_point_mass(cross_engine):
    """At T > 0 the translated draft carries no q (it lives in another vocabulary): verify.py treats it as a
    point mass, which rejection sampling verifies exactly."""
    drafter = cross_engine.drafters["draft"]
    assert isinstance(drafter, CrossVocabDrafter)
    context = cross_engine.tokens(PROMPTS[0])
    proposal = drafter.propose(context, 4, DraftParams(temperature=0.8), np.random.default_rng(0))
    assert proposal.q is None and proposal.tokens
    t = cross_engine.generate(PROMPTS[0], 30, drafter="draft", draft_max=4, temperature=0.8, seed=3)
    assert t.stats.n_emitted == 30


def test_valid_utf8_drops_an_unfinished_character_and_replaces_invalid_bytes():
    assert valid_utf8("héllo".encode()[:2]) == b"h"
    assert valid_utf8("€".encode()) == "€".encode()
    assert valid_utf8(b"a\xffb\xe2\x82") == "a\ufffdb".encode()
    assert valid_utf8(b"") == b""


def test_a_draft_that_stops_inside_a_character_translates_up_to_it(cross_engine):
    drafter: CrossVocabDrafter = cross_engine.drafters["draft"]  # type: ignore[assignment]
    d, t = cross_engine.draft, cross_engine.target
    context = t.tokenize("the model is", add_bos=True)
    words = d.tokenize("fast", add_bos=False)  # SentencePiece: " fast"
    half_e = d.tokenize("é", add_bos=False)[-2:]  # byte fallback: two byte tokens
    assert [d.piece(x) for x in half_e] == [b"\xc3", b"\xa9"]
    tokens = drafter.translate(context, [*words, half_e[0]])
    assert b"".join(t.piece(x) for x in tokens) == b" fast"
    # the whole character translates once its last byte is drafted
    whole = drafter.translate(context, [*words, *half_e])
    assert b"".join(t.piece(x) for x in whole) == " fasté".encode()
    # invalid bytes inside a draft become U+FFFD, which the target can tokenize: generation goes on
    bad = [3 + 0xFF]  # the draft's byte token <0xFF>: never valid UTF-8
    tokens = drafter.translate(context, [*bad, *words])
    assert b"".join(t.piece(x) for x in tokens).endswith(b" fast")


def test_a_draft_finishing_the_targets_last_word_is_translated_on_its_own(cross_engine):
    drafter: CrossVocabDrafter = cross_engine.drafters["draft"]  # type: ignore[assignment]
    d, t = cross_engine.draft, cross_engine.target
    context = t.tokenize("the mod", add_bos=True)  # the target wrote " mod", the draft finishes the word
    by_piece = {d.piece(i): i for i in range(d.n_vocab)}
    tokens = drafter.translate(context, [by_piece[b"e"], by_piece[b"l"], by_piece[b" is"]])
    assert b"".join(t.piece(x) for x in tokens) == b"el is"


def test_a_compatible_pair_does_not_translate_even_when_asked(tiny_target, tiny_draft):
    e = Engine.load(tiny_target, tiny_draft, LoadOptions(n_ctx=512, n_threads=2, cross_vocab=True))
    try:
        assert e.cross_vocab is None
        assert not isinstance(e.drafters["draft"], CrossVocabDrafter)
    finally:
        e.close()


def test_a_missing_draft_is_still_one_line(tiny_target, tmp_path):
    with pytest.raises(WorkbenchError):
        Engine.load(tiny_target, tmp_path / "missing.gguf", LoadOptions(n_ctx=512, cross_vocab=True))


def test_the_draft_context_is_the_whole_texts_tokenization_though_only_its_tail_is_tokenized_again(cross_engine):
    from workbench.engine.drafters.cross_vocab import DraftContext

    t, d = cross_engine.target, cross_engine.draft
    context = t.tokenize(" ".join(PROMPTS * 40), add_bos=True)[:900]  # about 3,200 bytes of text
    drafts = DraftContext(t, d)
    for n in range(20, len(context) + 1, 5):  # the context grows a few tokens a step
        got = drafts.of(context[:n])
        text = valid_utf8(b"".join(t.piece(x) for x in context[:n]))
        assert got == d.tokenize(text[1:] if text.startswith(b" ") else text, add_bos=True, special=False), n
    assert drafts.anchor > 0 and drafts.fixed  # the anchor moved: the text behind it is not tokenized again
