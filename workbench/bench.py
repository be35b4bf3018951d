"""`workbench bench`: plain decoding against each drafter on one model and prompt, in one process.

Absolute tokens/s on a shared machine drift; ratios measured side by side hold. So every configuration
runs in the same invocation, repetitions are interleaved (the order rotates each round), and the table
reports each drafter's speedup over plain decoding measured alongside it. At temperature 0 the table
also says whether each drafter's text equals plain greedy decoding, as it must.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .engine.errors import WorkbenchError
from .engine.session import Engine
from .engine.transcript import Transcript


def spec_bench_prompt(path: str | Path, category: str, index: int = 0) -> str:
    """The first turn of the index-th Spec-Bench question of a category."""
    try:
        rows = [json.loads(line) for line in Path(path).expanduser().read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such Spec-Bench file") from None
    except (OSError, ValueError) as e:
        raise WorkbenchError(f"{path}: not a Spec-Bench question file ({e})") from None
    chosen = [r for r in rows if r.get("category") == category]
    if not chosen:
        cats = sorted({str(r.get("category")) for r in rows})
        raise WorkbenchError(f"no Spec-Bench questions in category {category!r}; categories: {', '.join(cats)}")
    if not 0 <= index < len(chosen):
        raise WorkbenchError(f"category {category!r} has {len(chosen)} questions; --index must be below that")
    return chosen[index]["turns"][0]


@dataclass
class Result:
    name: str
    rates: list[float] = field(default_factory=list)
    acceptance: float = 0.0
    mean_accepted_length: float = 1.0
    draft_share: float = 0.0
    text: str = ""

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0


def run_once(engine: Engine, prompt: str, drafter: str, args: argparse.Namespace) -> Transcript:
    engine.forget()  # the suffix cache would otherwise replay the earlier repetitions' output
    return engine.generate(prompt, args.n_predict, drafter=drafter, draft_max=args.draft_max, temperature=args.temp)


def compare(engine: Engine, prompt: str, drafters: list[str], args: argparse.Namespace,
            progress=None) -> list[Result]:
    results = {name: Result(name) for name in ["none", *drafters]}
    order = list(results)
    run_once(engine, prompt, "none", args)  # warm-up: page the weights in, fill caches
    for r in range(args.repeat):
        for name in order[r % len(order):] + order[:r % len(order)]:
            t = run_once(engine, prompt, name, args)
            res = results[name]
            res.rates.append(t.stats.tokens_per_second)
            res.acceptance, res.mean_accepted_length, res.text = t.stats.acceptance, t.stats.mean_accepted_length, t.text
            busy = t.stats.draft_seconds + t.stats.verify_seconds
            res.draft_share = t.stats.draft_seconds / busy if busy else 0.0
            if progress:
                progress()
    return list(results.values())


def bench(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .cli import engine_from_args
    from .headless import read_prompt

    if args.repeat < 1:
        raise WorkbenchError(f"--repeat must be at least 1, not {args.repeat}")
    drafters = [d.strip() for d in args.drafters.split(",") if d.strip() and d.strip() != "none"]
    for d in drafters:
        if d not in ("draft", "lookup", "suffix", "cascade"):
            raise WorkbenchError(f"unknown drafter {d!r} in --drafters")
    if args.prompt is None and args.file is None:
        prompt = spec_bench_prompt(args.spec_bench, args.category, args.index)
    else:
        prompt = read_prompt(args)
    engine = engine_from_args(args)
    console = Console(stderr=False, highlight=False)
    try:
        if engine.draft is None and "draft" in drafters:
            drafters.remove("draft")
            console.print("no draft model (-md): skipping the draft drafter")
        text = prompt if args.raw else engine.target.chat_prompt(prompt)
        total = args.repeat * (len(drafters) + 1)
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("benchmarking", total=total)
            results = compare(engine, text, drafters, args, progress=lambda: bar.advance(task))
        plain = results[0]
        table = Table(title=f"{engine.target.info.name}"
                            + (f" + draft {engine.draft.info.name}" if engine.draft else "")
                            + f", K={args.draft_max}, T={args.temp}, {args.n_predict} tokens, median of {args.repeat}")
        for col in ("drafter", "tok/s", "vs plain", "acceptance", "mean acc. len", "draft share", "same text"):
            table.add_column(col, justify="left" if col == "drafter" else "right")
        for r in results:
            same = "-" if r is plain or args.temp > 0 else ("yes" if r.text == plain.text else "NO")
            table.add_row(r.name, f"{r.rate:.1f}", f"{r.rate / plain.rate:.2f}x" if plain.rate else "-",
                          "-" if r is plain else f"{100 * r.acceptance:.0f}%",
                          f"{r.mean_accepted_length:.2f}", f"{100 * r.draft_share:.0f}%", same)
        console.print(table)
        if args.json:
            Path(args.json).write_text(json.dumps([{"drafter": r.name, "tokens_per_second": r.rate, "runs": r.rates,
                                                    "speedup": r.rate / plain.rate if plain.rate else None,
                                                    "acceptance": r.acceptance,
                                                    "mean_accepted_length": r.mean_accepted_length} for r in results],
                                                  indent=1))
    finally:
        engine.close()
    return 0
