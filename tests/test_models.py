"""GGUF inspection, loading errors and llama.cpp's compatibility rules."""

from __future__ import annotations

import pytest

from workbench.engine.errors import WorkbenchError
from workbench.engine.gguf_info import inspect
from workbench.engine.models import IncompatibleModels, LoadOptions, Model, VocabFacts, check_compatible
from workbench.engine.session import Engine

OPTS = LoadOptions(n_ctx=256, n_threads=2)


def test_inspect_reads_the_header_without_loading(tiny_target):
    info = inspect(tiny_target)
    assert (info.arch, info.n_layer, info.quantization, info.n_ctx_train) == ("llama", 2, "F32", 512)
    assert info.n_vocab > 300 and info.n_params > 0
    assert not info.is_moe and not info.recurrent
    assert info.expert_used_key == "llama.expert_used_count"
    assert "llama" in info.summary()


def test_inspect_reports_moe_experts(models_dir):
    import tinymodels

    path = tinymodels.write_model(models_dir / "moe.gguf", tinymodels.TinySpec(n_expert=4, n_expert_used=2))
    info = inspect(path)
    assert info.is_moe and (info.expert_count, info.expert_used_count) == (4, 2)
    assert "MoE 2/4" in info.summary()


@pytest.mark.parametrize("fixture, message", [
    ("not_gguf", "is not a GGUF model file"),
    ("truncated_gguf", "truncated"),
])
def test_bad_files_get_one_clear_line(request, fixture, message):
    path = request.getfixturevalue(fixture)
    with pytest.raises(WorkbenchError, match=message) as e:
        Model(path, OPTS)
    assert "\n" not in str(e.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(WorkbenchError, match="no such file"):
        inspect(tmp_path / "nope.gguf")
    with pytest.raises(WorkbenchError, match="is a directory"):
        inspect(tmp_path)


def test_a_compatible_pair_loads(tiny_target, tiny_draft):
    e = Engine.load(tiny_target, tiny_draft, OPTS)
    try:
        assert e.draft is not None and e.available("draft") is None
    finally:
        e.close()


def test_a_renamed_token_is_named_in_the_error(tiny_target, renamed_token_model):
    with pytest.raises(IncompatibleModels, match="token 300 differs"):
        Engine.load(tiny_target, renamed_token_model, OPTS)


def test_vocabulary_sizes_too_far_apart(tiny_target, bigger_vocab_model):
    with pytest.raises(IncompatibleModels, match="sizes differ by more than 128"):
        Engine.load(tiny_target, bigger_vocab_model, OPTS)


def facts(**kw) -> VocabFacts:
    base = dict(vocab_type=1, n_vocab=100, bos=1, eos=2, add_bos=True, add_eos=False, texts=lambda i: b"t%d" % i)
    return VocabFacts(**{**base, **kw})


@pytest.mark.parametrize("draft, message", [
    (facts(vocab_type=2), "vocabulary types differ"),
    (facts(bos=7), r"special tokens differ \(bos"),
    (facts(eos=9), r"special tokens differ \(eos"),
    (facts(add_bos=False), r"special tokens differ \(add_bos"),
    (facts(add_eos=True), r"special tokens differ \(add_eos"),
    (facts(n_vocab=229), "sizes differ"),
    (facts(texts=lambda i: b"x" if i == 42 else b"t%d" % i), "token 42 differs"),
])
def test_each_compatibility_rule(draft, message):
    with pytest.raises(IncompatibleModels, match=message):
        check_compatible(facts(), draft)


def test_rules_that_llama_cpp_allows():
    check_compatible(facts(), facts(n_vocab=228))  # within 128
    check_compatible(facts(), facts(texts=lambda i: b"other" if i < 5 else b"t%d" % i))  # ids below 5 are not compared


def test_load_warnings_for_memory_and_a_draft_larger_than_its_target(tiny_target, models_dir, monkeypatch):
    import tinymodels

    from workbench.engine.session import load_warnings

    big = tinymodels.write_model(models_dir / "big-draft.gguf", tinymodels.TinySpec(seed=6, n_embd=128, n_ff=256))
    warnings = load_warnings(inspect(tiny_target), inspect(big))
    assert len(warnings) == 1 and "larger than the target" in warnings[0] and "slower" in warnings[0]
    assert load_warnings(inspect(big), inspect(tiny_target)) == []

    class Tight:
        available = 1000

    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight())
    warnings = load_warnings(inspect(tiny_target), None)
    assert len(warnings) == 1 and "of memory is free" in warnings[0]


def test_an_incompatible_pair_is_refused_from_metadata_before_any_weights_load(tiny_target, models_dir, monkeypatch):
    import time

    import tinymodels

    from workbench.engine.models import IncompatibleModels
    from workbench.engine.session import Engine

    bpe = tinymodels.write_model(models_dir / "bpe.gguf", tinymodels.TinySpec(seed=6, tokenizer="gpt2"))

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(Model, "__init__", no_weights)
    start = time.monotonic()
    with pytest.raises(IncompatibleModels, match="the target's tokenizer is SPM, the draft's BPE"):
        Engine.load(tiny_target, bpe)
    assert time.monotonic() - start < 2
