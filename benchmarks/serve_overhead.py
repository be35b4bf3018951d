"""What serving costs: the same configuration and prompts headless (in this process) and through `workbench serve`
(streamed, the official openai client, loopback), interleaved rounds, median of the paired ratios.

    python benchmarks/serve_overhead.py [-m embedded:F16] [--threads 2] [--drafter lookup] [-n 128]
                                        [--rounds 5] [--suite grounded]

Each round runs the suite's prompts once headless (`Engine.generate`, the chat template applied as the server
applies it) and once through the server, in alternating order (headless first in odd rounds). The figure on both
sides is end to end at the caller: completion tokens over the wall time from sending the request (calling
generate) to its last token, so the server's HTTP, JSON, thread hand-over and SSE framing are all inside it.
Cross-request state is forgotten before every prompt on both sides (the `forget` request extension), so each
prompt sees the same drafter state. The two processes hold one model each and never run at the same time.
The aim (issue 24): served at least 0.97x headless.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from serve_common import ROOT, Served

sys.path.insert(0, str(ROOT))

from workbench import suites  # noqa: E402
from workbench.defaults import resolve_model  # noqa: E402
from workbench.engine.models import LoadOptions  # noqa: E402
from workbench.engine.session import Engine  # noqa: E402


def headless(engine: Engine, prompts: list[str], n: int, drafter: str) -> float:
    tokens, seconds = 0, 0.0
    for prompt in prompts:
        engine.forget()
        start = time.perf_counter()
        t = engine.generate(engine.target.chat_prompt(prompt), n, drafter=drafter, temperature=0.0)
        seconds += time.perf_counter() - start
        tokens += t.stats.n_emitted
    return tokens / seconds


def served(client, prompts: list[str], n: int) -> float:
    tokens, seconds = 0, 0.0
    for prompt in prompts:
        start = time.perf_counter()
        stream = client.chat.completions.create(model="workbench", messages=[{"role": "user", "content": prompt}],
                                                max_tokens=n, temperature=0, stream=True,
                                                extra_body={"forget": True})
        last = None
        for chunk in stream:
            last = chunk
        seconds += time.perf_counter() - start
        tokens += last.usage.completion_tokens
    return tokens / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-m", "--model", default="embedded:F16")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--drafter", default="lookup")
    p.add_argument("-n", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--suite", default="grounded")
    args = p.parse_args()
    prompts = suites.load(args.suite)
    engine = Engine.load(resolve_model(args.model), options=LoadOptions(n_threads=args.threads))
    ours, theirs = [], []
    with Served(["-m", args.model, "-t", str(args.threads), "--drafter", args.drafter, "--queue", "1"]) as server:
        client = server.client()
        served(client, prompts[:1], 8)  # warm-up on both sides: weights paged in
        headless(engine, prompts[:1], 8, args.drafter)
        for r in range(args.rounds):
            order = ("headless", "served") if r % 2 == 0 else ("served", "headless")
            for side in order:
                if side == "headless":
                    theirs.append(headless(engine, prompts, args.n, args.drafter))
                else:
                    ours.append(served(client, prompts, args.n))
            print(f"round {r + 1}: headless {theirs[-1]:.1f} tok/s, served {ours[-1]:.1f} tok/s "
                  f"({ours[-1] / theirs[-1]:.3f}x)", flush=True)
    engine.close()
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print(f"\n{args.model}, {args.threads} threads, drafter {args.drafter}, {len(prompts)} prompts x {args.n} tokens, "
          f"{args.rounds} interleaved rounds")
    print(f"headless {statistics.median(theirs):.1f} tok/s ({min(theirs):.1f}-{max(theirs):.1f}), served "
          f"{statistics.median(ours):.1f} tok/s ({min(ours):.1f}-{max(ours):.1f})")
    print(f"served / headless: median of paired ratios {statistics.median(ratios):.3f}x "
          f"(min-max {min(ratios):.3f}-{max(ratios):.3f}); aim >= 0.97x")


if __name__ == "__main__":
    main()
