"""`workbench bench --against URL`: the suite against a running OpenAI-compatible server (llama-server, the
workbench's own `serve`, another one), through the one client (client.py).

No model is loaded here: raw prompts (--raw) go to /v1/completions as they are, the others as one user turn to
/v1/chat/completions, in the server's own chat template. tok/s is the decode rate from llama-server's `timings`
where the server sends them (with its drafted and accepted tokens), else completion tokens over each request's
wall time (prompt processing and HTTP included: a lower bound of the decode rate, marked "wall").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..client import Client
from ..engine.errors import WorkbenchError
from ..signals import interrupt_on_signals
from .check import ENDPOINT, Row, print_table, serve_round


def bench_against(args: argparse.Namespace) -> int:
    from ..bench import suite_prompts

    if args.repeat < 1:
        raise WorkbenchError(f"--repeat must be at least 1, not {args.repeat}")
    prompts = suite_prompts(args)
    chat = not args.raw
    row = Row(f"endpoint {args.against}", ENDPOINT, None, output="-")
    timed = True
    with Client(args.against) as client, interrupt_on_signals():
        client.check()
        print(f"{args.against}: {len(prompts)} prompts x {args.n_predict} tokens, "
              f"{'/v1/chat/completions (its chat template)' if chat else '/v1/completions (raw)'}, "
              f"{args.repeat} rounds", flush=True)
        for r in range(args.repeat):
            result, replies = serve_round(client, prompts, args.n_predict, chat=chat)
            timed = timed and all(reply.timings is not None for reply in replies)
            row.rounds.append(result)
            print(f"  round {r + 1}/{args.repeat} {result.rate:7.1f} tok/s  drafted/accepted "
                  f"{result.drafted}/{result.accepted}", flush=True)
    if not timed:
        row.checks.append("the server sent no llama-server timings: tok/s is completion tokens over wall time "
                          "(prompt processing and HTTP included), drafting unknown (shown as none)")
    print_table([row], f"{args.against}: {len(prompts)} prompts x {args.n_predict} tokens, {args.repeat} rounds")
    if args.json:
        try:
            Path(args.json).write_text(json.dumps({"kind": "workbench-bench-against", "url": args.against,
                                                   "timings": timed, "rows": [row.to_json()]}, indent=1))
        except OSError as e:
            raise WorkbenchError(f"cannot write {args.json}: {e.strerror}") from None
    return 0


__all__ = ["bench_against"]
