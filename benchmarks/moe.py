"""The derived MoE (`embedded:moe`, engine/moe.py) measured as the research notes measured real MoEs (Track 2).

    python benchmarks/moe.py [--model embedded:moe] [--dense embedded:F16] [--counts 8,6,4,3,2,1]
                             [--speed-counts 8,4,2] [--rounds 5] [-n 128] [-t 1] [-f REFERENCE.txt] [--json OUT]

1. Quality: per expert count, perplexity on a reference text and teacher-forced greedy agreement with the dense
   model it was derived from (the share of positions where both pick the same next token). Timing plays no part.
2. Speed: plain decoding's tokens/s (one token per forward pass) per count in one process, the counts interleaved
   (each round in a rotated order, every model loaded once beside the others), the ratio to all experts taken round
   by round; beside it the ratio the multiply-adds per token predict (attention, output layer, shared expert and k
   routed experts), to show how close llama.cpp's MUL_MAT_ID gets to skipping the dropped experts' work.

The combinations and the self-draft are `workbench bench` runs (README, "A Mixture-of-Experts SmolLM2").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.defaults import resolve_model  # noqa: E402
from workbench.engine.gguf_info import inspect  # noqa: E402
from workbench.engine.models import LoadOptions, Model, expert_options  # noqa: E402
from workbench.experts import REFERENCE, check_against, measure, reference_choices  # noqa: E402


def multiply_adds(path: Path, experts: int) -> int:
    """Weights a token's forward pass multiplies (attention, the FFN's shared and `experts` routed experts, the
    output layer), from the GGUF's tensor shapes."""
    import gguf

    total = 0
    info = inspect(path)
    for t in gguf.GGUFReader(str(path)).tensors:
        n = int(t.n_elements)
        if t.name.endswith("_exps.weight"):
            total += n * experts // info.expert_count
        elif t.name == "token_embd.weight":
            total += n  # tied: the output layer multiplies it (a lookup for the input costs nothing)
        elif len(t.shape) > 1:
            total += n
    return total


def decode_rate(model: Model, tokens: list[int], n: int) -> float:
    """Tokens/s of plain decoding's work: one token per forward pass, its logits read (argmax), after a prompt of
    32 tokens. The tokens are the reference text's (teacher-forced), so every count does the same work and none
    stops early at an end-of-generation token (the fewest experts produce one within a few tokens)."""
    import time

    import numpy as np

    model.truncate(0)
    model.eval(tokens[:32])
    start = time.perf_counter()
    for token in tokens[32:32 + n]:
        np.argmax(model.eval([token], logits="last")[0])
    return n / (time.perf_counter() - start)


def speed(path: Path, counts: list[int], rounds: int, n_predict: int, options: LoadOptions,
          text: str) -> dict[int, list[float]]:
    info = inspect(path)
    models = {n: Model(path, expert_options(options, info, n)) for n in counts}
    rates: dict[int, list[float]] = {n: [] for n in counts}
    try:
        tokens = next(iter(models.values())).tokenize(text * (1 + (32 + n_predict) // 64))
        if len(tokens) < 32 + n_predict:
            raise SystemExit(f"the reference text is too short for -n {n_predict}")
        for m in models.values():
            decode_rate(m, tokens, 8)  # warm-up: page the weights in
        for r in range(rounds):
            for n in counts[r % len(counts):] + counts[:r % len(counts)]:
                rates[n].append(decode_rate(models[n], tokens, n_predict))
    finally:
        for m in models.values():
            m.close()
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:moe")
    ap.add_argument("--dense", default="embedded:F16", help="the dense model to agree with (default embedded:F16)")
    ap.add_argument("--counts", default="8,6,4,3,2,1")
    ap.add_argument("--speed-counts", default="8,4,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", "--n-predict", type=int, default=128)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("-f", "--file", help="reference text (default: the experts command's built-in paragraph)")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--json")
    args = ap.parse_args()
    model, dense = resolve_model(args.model), resolve_model(args.dense)
    check_against(model, dense)
    text = Path(args.file).read_text(encoding="utf-8") if args.file else REFERENCE
    options = LoadOptions(n_ctx=2048, n_threads=args.threads)
    counts = [int(c) for c in args.counts.split(",")]
    speed_counts = [int(c) for c in args.speed_counts.split(",")]

    dense_ppl, reference = reference_choices(dense, text, options, args.max_tokens)
    rows = measure(model, counts, text, options, args.max_tokens, 1, against=reference)
    print(f"{inspect(model).name} against {inspect(dense).name} (perplexity {dense_ppl:.3f}), "
          f"{len(reference)} teacher-forced positions")
    print(f"{'experts':>8} {'perplexity':>12} {'agreement':>10}")
    for r in rows:
        print(f"{r.experts:>8} {r.perplexity:>12.3f} {100 * r.agreement:>9.1f}%")

    rates = speed(model, speed_counts, args.rounds, args.n_predict, options, text)
    full = max(speed_counts)
    macs = {n: multiply_adds(model, n) for n in speed_counts}
    print(f"\nplain decoding, {args.rounds} interleaved rounds x {args.n_predict} tokens, {args.threads} thread(s)")
    print(f"{'experts':>8} {'tok/s':>8} {'min-max':>13} {'vs ' + str(full):>7} {'min-max':>11} {'MACs predict':>13}")
    for n in speed_counts:
        ratios = [mine / theirs for mine, theirs in zip(rates[n], rates[full], strict=True)]
        print(f"{n:>8} {statistics.median(rates[n]):>8.1f} {min(rates[n]):>6.1f}-{max(rates[n]):<6.1f} "
              f"{statistics.median(ratios):>6.2f}x {min(ratios):>5.2f}-{max(ratios):<5.2f} {macs[full] / macs[n]:>12.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": str(model), "dense": str(dense), "dense_perplexity": dense_ppl,
            "quality": [{"experts": r.experts, "perplexity": r.perplexity, "agreement": r.agreement} for r in rows],
            "speed": {str(n): {"runs": rates[n], "multiply_adds": macs[n]} for n in speed_counts},
        }, indent=1))


if __name__ == "__main__":
    main()
