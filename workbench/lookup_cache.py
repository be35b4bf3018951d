"""`workbench lookup-create`: a static n-gram cache from a corpus, as llama.cpp's `llama-lookup-create`
(tokenise the whole corpus with the target's tokenizer, special tokens parsed and BOS added; count its
2-grams; write llama.cpp's file format), so a cache made by either tool works in both."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .engine.drafters import ngram_cache
from .engine.errors import WorkbenchError
from .engine.userfiles import CORPUS_MAX, check_writable, llama_path, read_text


def tokenize_corpus(model_path: Path, text: str) -> list[int]:
    """The corpus in the model's tokens, loading only its vocabulary (no weights: a second at most)."""
    import llama_cpp

    from .engine.gguf_check import check_gguf
    from .engine.models import _capture_llama_log, last_llama_error

    check_gguf(model_path)
    _capture_llama_log()
    try:
        with llama_path(model_path) as path:
            llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    except Exception:  # noqa: BLE001 (llama-cpp-python says only "Failed to load model")
        raise WorkbenchError(f"llama.cpp could not read the vocabulary of {model_path.name}: "
                             f"{last_llama_error() or 'unknown reason'}") from None
    try:
        return llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    finally:
        llm.close()


def lookup_create(args: argparse.Namespace) -> int:
    from .defaults import default_model, resolve_model

    corpus = Path(args.file).expanduser()
    text = read_text(corpus, "corpus file", CORPUS_MAX, errors="replace")
    check_writable(args.output, "n-gram cache")  # before tokenising: a bad output path is said at once
    model = Path(resolve_model(args.model) if args.model else default_model())
    start = time.perf_counter()
    tokens = tokenize_corpus(model, text)
    cache: ngram_cache.Cache = {}
    ngram_cache.update(cache, tokens, ngram_cache.NGRAM_STATIC, ngram_cache.NGRAM_STATIC, len(tokens))
    ngram_cache.save(cache, args.output)
    print(f"{args.output}: {len(cache)} 2-grams from {len(tokens)} tokens of {corpus.name} "
          f"({model.name}'s tokenizer) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0
