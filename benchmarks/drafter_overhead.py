"""The drafters' own Python time per step at a long context (no model runs: drafting alone).

    python benchmarks/drafter_overhead.py [--context 4000] [--steps 300]

A real text (Spec-Bench's questions, tokenised by the embedded model's tokenizer) fills the context to
--context tokens; then each drafter proposes once per step while the context grows by what a step would
emit (the proposal's first tokens, as if two were accepted, or one plain token), and the mean and the 95th
percentile of propose + accept per step are printed. Indexing the prompt (prepare) and the first call are
shown apart: a real run indexes the prompt once per request, during prompt processing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from workbench.engine.drafters import DrafterSet
from workbench.engine.settings import Settings

DRAFTERS = ["lookup", "suffix", "ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod", "ngram-cache"]


def corpus_tokens(n: int) -> list[int]:
    from workbench.defaults import default_model
    from workbench.lookup_cache import tokenize_corpus
    from workbench.suites import shipped_spec_bench

    with open(shipped_spec_bench(), encoding="utf-8") as f:
        text = "\n\n".join(" ".join(json.loads(line)["turns"]) for line in f)
    return tokenize_corpus(default_model(), text)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--context", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    tokens = corpus_tokens(args.context + args.steps * 3)
    rng = np.random.default_rng(0)
    print(f"context {args.context} tokens, {args.steps} steps; milliseconds per step (propose + accept)")
    print(f"{'drafter':<15} {'prompt+first':>12} {'mean':>8} {'p95':>8}")
    for name in DRAFTERS:
        drafters = DrafterSet()
        drafter = drafters[name]
        settings = Settings(drafter=name)  # type: ignore[arg-type]
        params = drafter.params(settings)
        context = list(tokens[:args.context])
        drafter.begin(context)
        k = drafter.cap(params, settings.draft_max)
        t0 = time.perf_counter()
        drafter.prepare(context)  # what prompt processing does
        drafter.propose(context, k, params, rng)
        first = time.perf_counter() - t0
        times = []
        source = iter(tokens[args.context:])
        for _ in range(args.steps):
            t0 = time.perf_counter()
            proposal = drafter.propose(context, k, params, rng)
            drafters.accept(drafter, min(2, len(proposal)))
            times.append(time.perf_counter() - t0)
            context.extend(next(source) for _ in range(min(2, len(proposal)) + 1))
        p95 = sorted(times)[int(0.95 * len(times))]
        print(f"{name:<15} {1000 * first:>12.2f} {1000 * statistics.mean(times):>8.3f} {1000 * p95:>8.3f}")


if __name__ == "__main__":
    main()
