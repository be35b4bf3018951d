"""Settings side by side against plain decoding, interleaved, in one process run (ratios, not absolute times).

    python benchmarks/compare.py --demo [-t 1] [--rounds 3] [-n 200]
    python benchmarks/compare.py -m embedded:F16 -md embedded --suite spec-bench:summarization:2 \\
        "draft K=6:drafter=draft,draft_max=6" "p_min .5:drafter=draft,draft_max=6,p_min=0.5"

Each configuration is `label:setting=value,...` (settings table names). Every round runs plain decoding and
every configuration once on every prompt, in turn, so a slow moment of a shared machine hits them alike;
the table gives per configuration the median tokens/s with its min-max over rounds, the median of the
per-round ratios to plain decoding (min-max), acceptance and mean accepted length. `--demo` compares the
demo's own pair, prompt and threads (the app gives llama.cpp one core fewer than the machine has).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from workbench.defaults import app_threads, resolve_model
from workbench.engine.models import LoadOptions, default_threads
from workbench.engine.session import Engine

DEMO_CONFIGS = [
    "demo (chain ngram-cache+draft K=8):drafter=chain,chain=ngram-cache+draft,draft_max=8",
    "draft K=8:drafter=draft,draft_max=8",
    "cascade K=8:drafter=cascade,draft_max=8",
    "ngram-cache K=8:drafter=ngram-cache,draft_max=8",
]


def parse_config(text: str) -> tuple[str, dict[str, object]]:
    label, _, body = text.partition(":")
    settings: dict[str, object] = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        settings[key] = value.replace("+", ",")
    return label, settings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", help="label:setting=value,... (default with --demo: the demo's candidates)")
    ap.add_argument("--demo", action="store_true", help="the demo's pair, prompt and thread count")
    ap.add_argument("-m", default=None)
    ap.add_argument("-md", default=None)
    ap.add_argument("-t", "--threads", type=int, default=None)
    ap.add_argument("-n", type=int, default=192)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--suite", default=None, help="a workbench suite (e.g. spec-bench:summarization:2)")
    ap.add_argument("--raw", action="store_true", help="no chat template")
    args = ap.parse_args()
    if args.demo:
        from workbench.demo import DEMO_DRAFT, DEMO_PROMPT, DEMO_TARGET

        args.m, args.md = args.m or DEMO_TARGET, args.md or DEMO_DRAFT
        args.threads = args.threads or app_threads()
        prompts = [DEMO_PROMPT]
    elif args.suite:
        from workbench import suites

        prompts = suites.load(args.suite)
    else:
        ap.error("give --demo or --suite")
    configs = [parse_config(c) for c in (args.configs or (DEMO_CONFIGS if args.demo else []))]
    options = LoadOptions(n_threads=args.threads or default_threads())
    engine = Engine.load(resolve_model(args.m or "embedded"), resolve_model(args.md) if args.md else None, options)
    texts = [p if args.raw else engine.target.chat_prompt(p) for p in prompts]
    engine.generate(texts[0], 8, drafter="none")  # warm-up: page the weights in
    rows = [("plain", {"drafter": "none"}), *configs]
    rates: dict[str, list[float]] = {label: [] for label, _ in rows}
    ratios: dict[str, list[float]] = {label: [] for label, _ in rows}
    acc: dict[str, list[tuple[int, int, int]]] = {label: [] for label, _ in rows}
    for r in range(args.rounds):
        for text in texts:
            plain_rate = 0.0
            for label, settings in rows:
                engine.forget()
                engine.k_policies.clear()
                t = engine.generate(text, args.n, **settings)
                s = t.stats
                if label == "plain":
                    plain_rate = s.tokens_per_second
                rates[label].append(s.tokens_per_second)
                ratios[label].append(s.tokens_per_second / plain_rate)
                acc[label].append((s.n_drafted, s.n_accepted, s.n_drafted_steps))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{engine.target.info.name} target, {engine.draft.info.name if engine.draft else 'no'} draft, "
          f"{options.n_threads} threads, {len(texts)} prompt(s) x {args.n} tokens, {args.rounds} rounds")
    print(f"{'configuration':<26} {'tok/s (min-max)':>20} {'vs plain (min-max)':>22} {'accept':>7} {'len':>5}")
    for label, _ in rows:
        d = sum(a[0] for a in acc[label])
        a = sum(a[1] for a in acc[label])
        steps = sum(a[2] for a in acc[label])
        rr, xs = rates[label], ratios[label]
        print(f"{label:<26} {statistics.median(rr):>7.1f} ({min(rr):5.1f}-{max(rr):5.1f}) "
              f"{statistics.median(xs):>8.2f}x ({min(xs):.2f}-{max(xs):.2f}) "
              f"{(100 * a / d if d else 0):>6.0f}% {(a / steps + 1 if steps else 1):>5.2f}")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
