"""Replay the drafters against plain decoding's own output, with each verify step costing its measured time.

On this shared 2-core machine one configuration's runs spread 10-20%, so telling a drafter at 0.95x plain
from one at 1.0x takes dozens of interleaved rounds per category. This replay removes the noise from the
comparison (not from the claim: the README's figures come from `workbench bench`). It

1. measures what a verify step of b tokens costs this target here, in plain steps (median of timed evals);
2. decodes each prompt plainly once with the real model: the output every greedy drafter must reproduce;
3. runs the real engine, drafters, chain and draft gate on each prompt with the target replaced by an oracle
   that answers with that output (a one-hot row per position) and a clock that advances by each verify
   step's measured cost, so the gate sees this machine's costs without its noise.

A configuration's modelled speedup is its tokens over its steps' cost in plain steps. The draft model is
not replayed (n-gram drafters only). Used to choose the gate's loss budget (engine/gate.py):

    python benchmarks/gate_replay.py --drafters suffix,lookup,ngram-cache,chain
    python benchmarks/gate_replay.py --drafters suffix --gate ALLOWANCE_STEPS=2 --gate LOSS_SHARE=0.04
    python benchmarks/gate_replay.py --costs 2.2,2.6,3.1,3.8,4.3,4.6,4.9,5.1   # a fixed table (b = 2..9 tokens)
    python benchmarks/gate_replay.py --drafters ngram-cache,ngram-cache:off --categories summarization --prompts 1 \
        --forms raw,chat    # ngram-cache with the gate and without it (llama-lookup's drafting), both prompt forms
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workbench.engine.clock as engine_clock  # noqa: E402
import workbench.engine.gate as gate  # noqa: E402
from workbench import defaults, suites  # noqa: E402
from workbench.engine import userfiles  # noqa: E402
from workbench.engine.errors import WorkbenchError  # noqa: E402
from workbench.engine.models import LoadOptions, Model  # noqa: E402
from workbench.engine.session import Engine  # noqa: E402

ANSWERS_LIMIT = 64 << 20  # bytes of --answers read at most (13 categories x 2 forms x 2 answers take ~1 MB)
CATEGORIES = ("coding", "extraction", "humanities", "math", "math_reasoning", "qa", "rag", "reasoning", "roleplay",
              "stem", "summarization", "translation", "writing")


def measure_costs(target: Model, widths: int, rounds: int = 15) -> list[float]:
    """Seconds of a verify step of 1..widths tokens (all logits, as the engine asks), at a context of 256."""
    context = list(range(100, 356))
    target.truncate(0)
    target.eval(context)
    costs = []
    for b in range(1, widths + 1):
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            target.eval(context[:b], logits="all")
            times.append(time.perf_counter() - t0)
            target.truncate(len(context))
        costs.append(statistics.median(times))
    target.truncate(0)
    return costs


class Clock:
    """Stands in for the session's time module: only verify steps advance it."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class OracleTarget:
    """The target, answering each position with plain decoding's token there; everything else is the real model's."""

    def __init__(self, real: Model, clock: Clock, costs: Sequence[float]) -> None:
        self._real, self._clock, self._costs = real, clock, costs
        self.sequence: list[int] = []
        self.n_past = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def eval(self, tokens: Sequence[int], logits: str = "none") -> list[np.ndarray]:
        wanted = range(len(tokens)) if logits == "all" else [len(tokens) - 1] if logits == "last" else []
        rows = []
        for i in wanted:
            row = np.zeros(self._real.n_vocab, dtype=np.float32)
            row[self.sequence[min(self.n_past + i + 1, len(self.sequence) - 1)]] = 1.0
            rows.append(row)
        if logits == "all":
            b = len(tokens)
            last = len(self._costs)
            self._clock.now += self._costs[b - 1] if b <= last else self._costs[-1] * b / last
        self.n_past += len(tokens)
        return rows

    def truncate(self, n_keep: int) -> None:
        self.n_past = min(self.n_past, n_keep)


def replay(engine: Engine, oracle: OracleTarget, clock: Clock, plain_step: float,
           answers: list[tuple[list[int], list[int]]], settings: dict[str, object], n: int) -> float:
    """Modelled speedup over plain decoding of one configuration on (prompt, plain output) pairs."""
    tokens, cost = 0, 0.0
    for prompt, output in answers:
        if not output:
            continue  # plain decoding ended at once: nothing to draft for
        engine.forget()
        # past the output: its end-of-generation token (or the output's last token, for an answer cut at n)
        oracle.sequence = prompt + output + [int(engine.target.llm.token_eos()) if len(output) < n else output[-1]]
        oracle.n_past = 0
        start = clock.now
        t = engine.generate(prompt, n, **settings)
        if t.emitted_ids != output[:len(t.emitted_ids)]:
            raise SystemExit(f"the replay left plain decoding's output with {settings}: a bug")
        tokens += t.stats.n_emitted
        cost += clock.now - start
    return tokens * plain_step / cost if cost else math.nan  # nan: plain decoding ended at once (raw forms do)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", default=str(defaults.default_model()))
    ap.add_argument("--drafters", default="lookup,suffix,ngram-simple,ngram-map-k,ngram-map-k4v,ngram-mod,ngram-cache,"
                                           "chain")
    ap.add_argument("--categories", default=",".join(CATEGORIES))
    ap.add_argument("--prompts", type=int, default=2, help="Spec-Bench questions per category")
    ap.add_argument("--forms", default="chat", help="prompt forms, comma-separated: chat (a user turn in the model's "
                                                    "template), raw (the question as plain completion)")
    ap.add_argument("-n", type=int, default=192)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--gate", action="append", default=[], metavar="NAME=VALUE",
                    help="set a constant of engine/gate.py for this run (repeatable)")
    ap.add_argument("--answers", metavar="FILE.json", help="keep plain decoding's outputs in FILE and reuse them "
                                                            "(the replay's slow part, the same for every policy)")
    ap.add_argument("--costs", metavar="C2,C3,...",
                    help="verify costs of 2, 3, ... tokens in plain steps, instead of measuring them (they move 10-20%% "
                         "between runs here: give two policies' replays the same table to compare them across runs)")
    args = ap.parse_args(argv)
    for item in args.gate:
        name, _, value = item.partition("=")
        if not hasattr(gate, name):
            raise SystemExit(f"engine/gate.py has no {name}")
        try:
            setattr(gate, name, float(value))
        except ValueError:
            raise SystemExit(f"--gate {name} takes a number, not {value!r}") from None

    engine = Engine.load(args.model, options=LoadOptions(n_threads=args.threads))
    real = engine.target
    if args.costs:
        try:
            costs = [1.0] + [float(c) for c in args.costs.split(",")]
        except ValueError:
            raise SystemExit(f"--costs takes numbers separated by commas, not {args.costs!r}") from None
    else:
        costs = measure_costs(real, args.k + 9)
    print("a verify step of b tokens, in plain steps: " + " ".join(f"{b}:{c / costs[0]:.2f}"
                                                                  for b, c in enumerate(costs, 1)))
    forms = args.forms.split(",")
    if any(f not in ("raw", "chat") for f in forms):
        raise SystemExit(f"--forms takes raw and chat, not {args.forms!r}")
    # a column per category and form (the form named when there are two)
    categories = [f"{c}{'/' + f if len(forms) > 1 else ''}" for c in args.categories.split(",") for f in forms]
    answers: dict[str, list[tuple[list[int], list[int]]]] = {}
    saved = Path(args.answers) if args.answers else None
    try:
        known = json.loads(userfiles.read_text(saved, "--answers", ANSWERS_LIMIT)) if saved and saved.exists() else {}
    except (WorkbenchError, json.JSONDecodeError) as e:
        raise SystemExit(f"--answers {saved}: cannot read it ({e}); remove it to decode the answers again") from None
    if not isinstance(known, dict):
        raise SystemExit(f"--answers {saved}: not a file this replay wrote; remove it to decode the answers again")
    for column in categories:
        key = f"{args.model} {column} {args.prompts} {args.n}"
        if key in known:
            answers[column] = [(p, o) for p, o in known[key]]
            continue
        category, _, form = column.partition("/")
        answers[column] = []
        for question in suites.load(f"spec-bench:{category}:{args.prompts}"):
            prompt = engine.tokens(real.chat_prompt(question) if (form or forms[0]) == "chat" else question)
            engine.forget()
            answers[column].append((prompt, engine.generate(prompt, args.n, drafter="none").emitted_ids))
        known[key] = answers[column]
    if saved:
        userfiles.write_atomic(saved, json.dumps(known), "--answers")

    clock = Clock()
    oracle = OracleTarget(real, clock, costs)
    engine_clock.now = clock.perf_counter  # the engine reads its clock through engine/clock.py
    engine.target = oracle  # type: ignore[assignment]
    print(f"modelled speedup over plain decoding, K={args.k}, {args.prompts} prompts x {args.n} tokens per category")
    width = max(6, *(len(c) for c in categories)) if len(forms) > 1 else 6
    print(f"{'drafter':18s} {'geomean':>7s} {'worst':>6s}  " + " ".join(f"{c[:width]:>{width}s}" for c in categories))
    for item in args.drafters.split(","):
        drafter, _, gate_mode = item.partition(":")  # ngram-cache:off: the gate off, drafting as llama.cpp does
        settings = {"drafter": drafter, "draft_max": args.k, **({"draft_gate": gate_mode} if gate_mode else {})}
        row = [replay(engine, oracle, clock, costs[0], answers[c], settings, args.n) for c in categories]
        known = [x for x in row if not math.isnan(x)]  # a cell whose every answer is empty has no speedup
        geomean = math.exp(sum(map(math.log, known)) / len(known)) if known else math.nan
        cells = " ".join(f"{'-':>{width}s}" if math.isnan(x) else f"{x:{width}.2f}" for x in row)
        print(f"{item:18s} {geomean:7.3f} {min(known, default=math.nan):6.3f}  " + cells, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
