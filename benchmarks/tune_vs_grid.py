"""Does `workbench tune` find what the full grid finds, in a fraction of the grid's time?

All in one process, on the same models and prompts:
 1. the grid `workbench bench` runs over the space (drafters x K x n-gram sizes), timed;
 2. `tune` over the same space, timed;
 3. a head-to-head of the two picks and plain decoding, with interleaved repetitions, so that neither
    pick's figure is one lucky run (the grid's best is the best of many noisy draws: it flatters itself).
Prints the time ratio tune / grid (goal: at most 1/3) and the speed ratio tune's pick / grid's pick
(goal: at least 0.95).

    python benchmarks/tune_vs_grid.py -m TARGET.gguf [-md DRAFT.gguf] [--suite spec-bench:summarization:2]
                                      [-n 96] [--k 2,4,8,16,24,auto] [--repeat 3] [-t 2]
"""

from __future__ import annotations

import argparse
import time

from workbench import suites
from workbench.bench import Config, expand, run_grid, tune
from workbench.defaults import resolve_model
from workbench.engine.models import LoadOptions
from workbench.engine.session import Engine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-m", "--model", default="embedded:F16")
    p.add_argument("-md", "--draft", default="embedded")
    p.add_argument("--drafters", default="draft,lookup,suffix,cascade")
    p.add_argument("--k", default="2,4,8,16,24,auto")
    p.add_argument("--ngram", default="2,3,4")
    p.add_argument("--suite", default="spec-bench:summarization:2")
    p.add_argument("--spec-bench", default="../shared/bench/spec_bench/question.jsonl")
    p.add_argument("-n", type=int, default=96)
    p.add_argument("--repeat", type=int, default=3, help="repetitions of the head-to-head")
    p.add_argument("-t", "--threads", type=int, default=2)
    args = p.parse_args()

    draft = resolve_model(args.draft) if args.draft else None
    engine = Engine.load(resolve_model(args.model), draft, LoadOptions(n_threads=args.threads))
    prompts = [engine.target.chat_prompt(q) for q in suites.load(args.suite, args.spec_bench)]
    drafters = [d for d in args.drafters.split(",") if d != "draft" or draft]
    ks: list[int | str] = [k if k in ("auto", "heuristic") else int(k) for k in args.k.split(",")]
    ngrams = [int(n) for n in args.ngram.split(",")]

    start = time.perf_counter()
    grid = run_grid(engine, prompts, expand(drafters, ks, [0.0], ngrams, [0]), args.n, 1,
                    progress=lambda label: print(f"  grid: {label}", flush=True))
    grid_seconds = time.perf_counter() - start
    grid_best = max((r for r in grid if r.config.drafter != "none"), key=lambda r: r.rate)
    print(f"grid: {len(grid)} configurations in {grid_seconds:.0f} s; best {grid_best.config.label} "
          f"{grid_best.speedup:.2f}x plain")

    start = time.perf_counter()
    winner, history = tune(engine, prompts, drafters, [0.0], ngrams, args.n,
                           progress=lambda label: print(f"  tune: {label}", flush=True))
    tune_seconds = time.perf_counter() - start
    print(f"tune: {len(history)} measurements in {tune_seconds:.0f} s; picked {winner.config.label} "
          f"{winner.speedup:.2f}x plain")

    picks: list[Config] = list(dict.fromkeys([winner.config, grid_best.config]))
    head = {r.config: r for r in run_grid(engine, prompts, picks, args.n, args.repeat)}
    plain = head[Config("none", 0)].rate
    for c in picks:
        r = head[c]
        print(f"head-to-head: {c.label:22s} {r.rate:6.1f} tok/s  {r.rate / plain:.2f}x plain  runs "
              + " ".join(f"{x:.1f}" for x in r.rates))
    print(f"plain {plain:.1f} tok/s")
    print(f"time: tune / grid = {tune_seconds / grid_seconds:.2f}")
    print(f"speed: tune's pick / grid's pick = {head[winner.config].rate / head[grid_best.config].rate:.3f}")
    engine.close()


if __name__ == "__main__":
    main()
