"""What reducing a Mixture-of-Experts model's experts per token costs in quality and buys in speed.

For each expert count: perplexity of the model on a reference text, greedy agreement with the model at
its own (default) count (the share of positions where both pick the same next token, teacher-forced on
the reference), and plain decoding speed. One invocation, one table, counts measured side by side.
With `--against MODEL` the agreement is with another model of the same vocabulary instead (for `embedded:moe`,
the dense model it was derived from: `--against embedded:F16`).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .engine.errors import WorkbenchError
from .engine.gguf_info import ModelInfo, inspect
from .engine.models import (
    IncompatibleModels,
    LoadOptions,
    Model,
    check_compatible,
    check_experts,
    expert_options,
    vocab_facts_from_file,
)

# Used when no reference file is given: plain expository prose, the kind of text perplexity is usually read on.
REFERENCE = (
    "The river rises in the hills to the north and flows south for about two hundred kilometres before it "
    "reaches the sea. For most of its length it runs through farmland, and the towns along its banks grew "
    "up around the mills that used its water. In the nineteenth century a canal was dug beside the lower "
    "river so that barges could avoid the shallows near the estuary. The canal carried coal, grain and "
    "timber until the railway arrived, after which traffic fell away and the locks were left to decay. "
    "Today the towpath is a footpath and cycle route, and the old warehouses have been turned into homes, "
    "workshops and a small museum that tells the story of the people who built and worked the waterway."
)


@dataclass(frozen=True)
class ExpertRow:
    experts: int
    default: bool
    perplexity: float
    agreement: float  # with the model at its own count
    tokens_per_second: float
    load_seconds: float


def score(model: Model, tokens: list[int]) -> tuple[float, list[int]]:
    """(mean negative log-likelihood of tokens[1:], the argmax at each position), chunk by chunk so that
    only one batch of logits rows is ever held (a 262k vocabulary makes whole-text logits gigabytes)."""
    model.truncate(0)
    nll = 0.0
    best: list[int] = []
    step = model.options.n_batch
    for start in range(0, len(tokens) - 1, step):
        chunk = tokens[start:start + step]
        rows = model.eval(chunk, logits="all")
        for i, row in enumerate(rows):
            target = start + i + 1
            if target >= len(tokens):
                break
            top = float(row.max())
            log_z = top + math.log(float(np.exp(row - top).sum()))
            nll -= float(row[tokens[target]]) - log_z
            best.append(int(np.argmax(row)))
    return nll / max(len(best), 1), best


def check_against(path: str | Path, against: str | Path) -> None:
    """A one-line WorkbenchError unless `against` shares the MoE model's vocabulary (llama.cpp's draft rules: the
    same token ids mean the same text), so that its argmax can be compared position by position."""
    try:
        check_compatible(vocab_facts_from_file(path), vocab_facts_from_file(against))
    except IncompatibleModels as e:
        raise WorkbenchError(f"--against {inspect(against).name}: another vocabulary, no greedy agreement to "
                             f"measure ({str(e).removeprefix('incompatible pair: ')})") from None


def reference_choices(against: str | Path, text: str, options: LoadOptions, max_tokens: int) -> tuple[float, list[int]]:
    """(perplexity, argmax per position) of another model on the reference text, tokenized as the MoE model does
    (the vocabularies are the same: check_against)."""
    model = Model(against, options)
    try:
        tokens = model.tokenize(text)[:min(max_tokens, model.n_ctx)]
        mean_nll, best = score(model, tokens)
    finally:
        model.close()
    return math.exp(mean_nll), best


def measure(path: str | Path, counts: list[int], text: str, options: LoadOptions, max_tokens: int = 512,
            n_predict: int = 64, progress: Callable[[str], None] | None = None,
            against: list[int] | None = None) -> list[ExpertRow]:
    """One row per count; `against`: another model's argmax per position (reference_choices) to agree with,
    instead of the model's own at its default count."""
    import time

    from .engine.session import Engine

    info: ModelInfo = inspect(path)
    if not info.is_moe:
        raise WorkbenchError(f"{info.name} is not a Mixture-of-Experts model ({info.arch}, no experts to reduce)")
    for n in counts:
        check_experts(info, n)
    default = info.expert_used_count
    # the reference count first (unless another model is the reference and the default count was not asked for)
    order = [n for n in counts if n != default] if against is not None and default not in counts else \
        [default, *[n for n in counts if n != default]]
    rows: list[ExpertRow] = []
    reference: list[int] = list(against) if against is not None else []
    for n in order:
        start = time.perf_counter()
        model = Model(info.path, expert_options(options, info, 0 if n == default else n))
        loaded = time.perf_counter() - start
        engine = Engine(model)
        try:
            tokens = model.tokenize(text)[:max_tokens]
            if len(tokens) < 8:
                raise WorkbenchError("the reference text is too short: give at least a few sentences")
            if len(tokens) > model.n_ctx:
                tokens = tokens[:model.n_ctx]
            mean_nll, best = score(model, tokens)
            if not reference:
                reference = best
            m = min(len(best), len(reference))
            agreement = float(np.mean(np.array(best[:m]) == np.array(reference[:m])))
            speed = engine.generate(tokens[:32], n_predict, drafter="none").stats.tokens_per_second
        finally:
            engine.close()
        rows.append(ExpertRow(n, n == default, math.exp(mean_nll), agreement, speed, loaded))
        if progress:
            progress(f"{n} experts")
    requested = {n: i for i, n in enumerate(counts)}
    return sorted(rows, key=lambda r: requested.get(r.experts, -1))


def experts_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .defaults import resolve_model

    info = inspect(resolve_model(args.model))
    against = resolve_model(args.against) if args.against else None
    if against is not None:
        check_against(info.path, against)
    try:
        counts = [int(c) for c in args.counts.split(",") if c.strip()] if args.counts else []
    except ValueError:
        raise WorkbenchError(f"--counts takes whole numbers separated by commas, not {args.counts!r}") from None
    if not info.is_moe:
        raise WorkbenchError(f"{info.name} is not a Mixture-of-Experts model ({info.arch}, no experts to reduce)")
    if not counts:
        counts = list(range(info.expert_used_count, 0, -1))
    for n in counts:
        check_experts(info, n)
    if args.file:
        from .engine.userfiles import PROMPT_MAX, read_text

        text = read_text(args.file, "reference text", PROMPT_MAX)
    else:
        text = REFERENCE
    options = LoadOptions(n_ctx=args.ctx_size, n_batch=args.batch_size,
                          **({"n_threads": args.threads} if args.threads is not None else {}))
    reference = None
    title = f"{info.name}: {info.expert_count} experts, {info.expert_used_count} used by default"
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("measuring", total=len(set(counts) | ({info.expert_used_count} if against is None else set())))
        if against is not None:
            perplexity, reference = reference_choices(against, text, options, args.max_tokens)
            title += f"; agreement with {inspect(against).name} (perplexity {perplexity:.3f})"
        rows = measure(info.path, counts, text, options, args.max_tokens, args.n_predict,
                       progress=lambda label: bar.update(task, advance=1, description=f"measured {label}"),
                       against=reference)
    base = next(r for r in rows if r.default) if any(r.default for r in rows) else rows[0]
    table = Table(title=title)
    for col in ("experts", "perplexity", "agreement", "tok/s", "vs default", "reload s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r.experts}{' (default)' if r.default else ''}", f"{r.perplexity:.3f}", f"{100 * r.agreement:.1f}%",
                      f"{r.tokens_per_second:.1f}", f"{r.tokens_per_second / base.tokens_per_second:.2f}x", f"{r.load_seconds:.2f}")
    Console(highlight=False).print(table)
    if args.json:
        from .engine.userfiles import write_atomic

        write_atomic(args.json, json.dumps([asdict(r) for r in rows], indent=1), "JSON file")
    return 0
