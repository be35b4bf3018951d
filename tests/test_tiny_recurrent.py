"""The tiny Mamba model (tests/tinymodels.py): llama.cpp loads it as recurrent, the workbench sees it so, and it
shares the tiny llama models' vocabulary, so that tests of a recurrent target with a llama draft can rely on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from workbench.engine.gguf_info import inspect
from workbench.engine.models import LoadOptions, Model


@pytest.fixture(scope="module")
def mamba_llm(tiny_mamba: Path) -> Iterator:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(tiny_mamba), n_ctx=256, n_threads=1, n_threads_batch=1, verbose=False)
    yield llm
    llm.close()


def greedy(llm, prompt: bytes, n: int) -> list[int]:
    """n greedy tokens after `prompt`, from a cleared state (Llama keeps no logits without logits_all: read llama.cpp's)."""
    import llama_cpp

    llm.reset()
    llm.eval(llm.tokenize(prompt))
    out: list[int] = []
    for _ in range(n):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        out.append(int(np.argmax(logits)))
        llm.eval(out[-1:])
    return out


def test_llama_cpp_loads_it_as_recurrent(mamba_llm):
    import llama_cpp

    assert llama_cpp.llama_model_is_recurrent(mamba_llm.model)
    assert not llama_cpp.llama_model_is_hybrid(mamba_llm.model)


def test_the_workbench_sees_it_as_recurrent(tiny_mamba):
    info = inspect(tiny_mamba)
    assert info.arch == "mamba" and info.recurrent and not info.hybrid
    m = Model(tiny_mamba, LoadOptions(n_ctx=256, n_threads=1))
    try:
        assert m.recurrent
    finally:
        m.close()


def test_it_shares_the_llama_models_vocabulary(mamba_llm, tiny_mamba, tiny_draft):
    import llama_cpp

    draft = llama_cpp.Llama(model_path=str(tiny_draft), vocab_only=True, verbose=False)
    try:
        v, w = llama_cpp.llama_model_get_vocab(mamba_llm.model), llama_cpp.llama_model_get_vocab(draft.model)
        n = llama_cpp.llama_vocab_n_tokens(v)
        assert n == llama_cpp.llama_vocab_n_tokens(w) == inspect(tiny_mamba).n_vocab
        assert [llama_cpp.llama_vocab_get_text(v, i) for i in range(n)] == \
            [llama_cpp.llama_vocab_get_text(w, i) for i in range(n)]
        assert (llama_cpp.llama_vocab_bos(v), llama_cpp.llama_vocab_eos(v)) == \
            (llama_cpp.llama_vocab_bos(w), llama_cpp.llama_vocab_eos(w))
        assert mamba_llm.tokenize(b"the model") == draft.tokenize(b"the model")
    finally:
        draft.close()


def test_greedy_generation_repeats_and_varies(mamba_llm):
    first = greedy(mamba_llm, b"the model", 30)
    assert greedy(mamba_llm, b"the model", 30) == first
    assert len(set(first)) >= 5  # not one token over and over
