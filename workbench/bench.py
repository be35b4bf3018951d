"""`workbench bench` (a grid of configurations) and `workbench tune` (the fastest one, found cheaply).

Absolute tokens/s on a shared machine drift; ratios measured side by side hold. So every configuration
runs in the same invocation, repetitions are interleaved (each round in a rotated order, so drift does not
favour whoever runs first), and each configuration's speedup is over plain decoding measured alongside it
at the same temperature and expert count. A configuration's tokens/s is its emitted tokens over its
decode time summed across the suite's prompts; its figure is the median over the repetitions. Adaptive K
keeps what it learnt from one request to the next (as it does in the app), so its first repetition starts
cold and later ones start from what the same configuration learnt before.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .args import engine_from_args
from .engine.agreement import Agreement
from .engine.errors import WorkbenchError
from .engine.session import Engine
from .engine.settings import AUTO_K_CEILING, DRAFTERS, VERIFY, drafters_using, parse_chain
from .suites import RequestStream

AUTO_KS = ("auto", "heuristic")


@dataclass(frozen=True)
class Config:
    drafter: str
    k: int | str  # a number, or "auto" / "heuristic"
    temperature: float = 0.0
    ngram: int = 3
    experts: int = 0
    verify: str = "batch"
    draft_experts: int = 0  # an MoE draft model's experts per token (0: its own count)
    gate: str = "on"  # the draft gate; off: drafting exactly as llama.cpp does

    @property
    def label(self) -> str:
        if self.drafter == "none":
            return "plain"
        ngram = f" n={self.ngram}" if self.drafter in drafters_using("ngram") else ""
        return (f"{self.drafter} K={self.k}{ngram}" + (" sequential" if self.verify == "sequential" else "")
                + (" gate off" if self.gate == "off" else ""))

    def settings(self, ceiling: int = AUTO_K_CEILING) -> dict[str, object]:
        adaptive = self.k if isinstance(self.k, str) else "off"
        # a chain is written with '+' in --drafters (the commas separate configurations there)
        drafter = {"drafter": "chain", "chain": self.drafter.replace("+", ",")} if "+" in self.drafter else {
            "drafter": self.drafter}
        return {**drafter, "draft_max": ceiling if isinstance(self.k, str) else self.k,
                "adaptive": adaptive, "temperature": self.temperature, "ngram": self.ngram, "experts": self.experts,
                "verify": self.verify, "draft_experts": self.draft_experts, "draft_gate": self.gate}

    def baseline(self) -> Config:
        return Config("none", 0, self.temperature, 3, self.experts)


@dataclass
class Result:
    config: Config
    rates: list[float] = field(default_factory=list)
    acceptance: float = 0.0
    mean_accepted_length: float = 1.0
    draft_share: float = 0.0
    state_ms: float = 0.0  # a recurrent target: ms a drafting step spent keeping and restoring its state
    draft_ms: float = 0.0  # drafting's cost per drafted token (a draft model's forward pass, or a lookup)
    seconds: float = 0.0  # wall time spent measuring this configuration
    texts: list[str] = field(default_factory=list)
    outputs: list[list[int]] = field(default_factory=list, repr=False)  # token ids per prompt, in suite order
    agreement: Agreement | None = None  # at T=0: against plain decoding's output on the same prompts
    speedup: float = 1.0  # the median of the per-repetition ratios to plain decoding measured beside it
    ratios: list[float] = field(default_factory=list)  # each repetition's rate over plain's in the same round
    k_settled: int = 0  # with adaptive K: the draft length it asked for most often (0: mostly not drafting)
    policies: dict = field(default_factory=dict, repr=False)  # this configuration's adaptive-K policies
    stage: str = ""  # in a tune: "screen 1", "screen 2", ... or "final"
    verify: dict[int, list[float]] = field(default_factory=dict, repr=False)  # verify seconds by batch width

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    @property
    def like_plain(self) -> bool:
        """Cannot be told from plain decoding: its ratios to plain straddle 1 (or a single run within 3%)."""
        if self.config.drafter == "none" or not self.ratios:
            return False
        if len(self.ratios) == 1:
            return abs(self.ratios[0] - 1) < 0.03
        return min(self.ratios) <= 1.0 <= max(self.ratios)

    def spread(self) -> str:
        """min-max of the repetitions' tokens/s, for beside the median."""
        return f"{min(self.rates):.1f}-{max(self.rates):.1f}" if len(self.rates) > 1 else "-"

    def ratio_spread(self) -> str:
        return f"{min(self.ratios):.2f}-{max(self.ratios):.2f}" if len(self.ratios) > 1 else "-"

    def to_json(self) -> dict[str, object]:
        c = self.config
        return {"drafter": c.drafter, "k": c.k, "temperature": c.temperature, "ngram": c.ngram, "experts": c.experts,
                "verify": c.verify, "draft_gate": c.gate, "draft_experts": c.draft_experts,
                "draft_ms_per_token": self.draft_ms,
                "tokens_per_second": self.rate, "runs": self.rates, "speedup": self.speedup,
                "speedup_runs": self.ratios, "like_plain": self.like_plain, "stage": self.stage,
                "acceptance": self.acceptance, "mean_accepted_length": self.mean_accepted_length,
                "draft_share": self.draft_share, "state_ms": self.state_ms, "k_settled": self.k_settled,
                "agreement": self.agreement.to_json() if self.agreement else None}


def measure_once(engine: Engine, prompts: list[str], config: Config, n_predict: int, result: Result,
                 backwards: bool = False) -> None:
    tokens = 0
    decode = draft = verify = 0.0
    drafted = accepted = drafted_steps = state_steps = 0
    state = 0.0
    texts = []
    outputs: list[list[int]] = []
    asked: Counter[int] = Counter()
    start = time.perf_counter()
    stream = isinstance(prompts, RequestStream)  # a served traffic log: in order, learning across its requests
    if stream:
        engine.forget()
        backwards = False
    for prompt in prompts[::-1] if backwards else prompts:
        if not stream:
            engine.forget()  # the suffix cache would otherwise replay earlier repetitions' output
        # Adaptive K keeps what it learnt across requests, in the app as here: each configuration has its own
        # policies, carried over between its repetitions (the first starts cold), never shared with another one
        t = engine.generate(prompt, n_predict, k_policies=result.policies, **config.settings())
        s = t.stats
        tokens += s.n_emitted
        decode += s.elapsed
        draft += s.draft_seconds
        verify += s.verify_seconds
        drafted += s.n_drafted
        accepted += s.n_accepted
        drafted_steps += s.n_drafted_steps
        state += s.state_seconds
        state_steps += s.n_state_steps
        texts.append(t.text)
        outputs.append(t.emitted_ids)
        asked.update(step.k for step in t.steps)
        for width, times in s.verify_by_width.items():
            result.verify.setdefault(width, []).extend(times)
    result.seconds += time.perf_counter() - start
    result.rates.append(tokens / decode if decode else 0.0)
    result.acceptance = accepted / drafted if drafted else 0.0
    result.mean_accepted_length = accepted / drafted_steps + 1 if drafted_steps else 1.0
    result.draft_share = draft / (draft + verify) if draft + verify else 0.0
    result.state_ms = 1000 * state / state_steps if state_steps else 0.0
    result.draft_ms = 1000 * draft / drafted if drafted else 0.0
    result.texts = texts[::-1] if backwards else texts  # in the suite's order
    result.outputs = outputs[::-1] if backwards else outputs
    if isinstance(config.k, str) and asked:
        result.k_settled = asked.most_common(1)[0][0]


def run_grid(engine: Engine, prompts: list[str], configs: list[Config], n_predict: int, repeat: int,
             progress: Callable[[str], None] | None = None) -> list[Result]:
    """Every configuration (plus the plain baseline of each temperature/expert count), interleaved."""
    baselines = [c.baseline() for c in configs]
    ordered = list(dict.fromkeys([*baselines, *configs]))
    results = {c: Result(c) for c in ordered}
    engine.generate(prompts[0], 8, drafter="none")  # warm-up: page the weights in
    n = 0
    for r in range(repeat):
        shift = r % len(ordered)
        for config in ordered[shift:] + ordered[:shift]:
            # every other measurement takes the prompts backwards, so that each starts on the prompt the one
            # before ended on, whose prompt processing the models' caches then reuse (wall time, not tok/s)
            measure_once(engine, prompts, config, n_predict, results[config], backwards=n % 2 == 1)
            n += 1
            if progress:
                progress(config.label)
    for result in results.values():
        plain = results[result.config.baseline()]
        # paired: each repetition against plain decoding's of the same round (a slow moment hits both)
        result.ratios = [mine / theirs for mine, theirs in zip(result.rates, plain.rates, strict=False) if theirs]
        result.speedup = statistics.median(result.ratios) if result.ratios else 0.0
        if result.config.temperature == 0 and result.config.drafter != "none":
            result.agreement = agreement(engine, prompts, results[result.config.baseline()], result)
    return list(results.values())


def agreement(engine: Engine, prompts: list[str], plain: Result, result: Result) -> Agreement:
    """Against plain decoding on the suite: identical on every prompt, or the first prompt's first difference
    (with plain decoding's top-2 margin there). Greedy speculation is only guaranteed to take each token as the
    target's argmax for its position in the verify batch, and batches round differently (engine/agreement.py)."""
    total = 0
    for prompt, theirs, ours in zip(prompts, plain.outputs, result.outputs, strict=True):
        found = engine.agreement(prompt, theirs, ours)
        if not found.identical:
            return found
        total += found.tokens
    return Agreement(total)


def expand(drafters: Iterable[str], ks: Iterable[int | str], temps: Iterable[float], ngrams: Iterable[int],
           experts: Iterable[int], verifies: Iterable[str] = ("batch",), draft_experts: Iterable[int] = (0,)) -> list[Config]:
    configs = []
    for e in experts:
        for t in temps:
            for d in drafters:
                if d == "none":
                    configs.append(Config("none", 0, t, 3, e))
                    continue
                # the draft model's expert count matters to the drafters that run it
                counts = list(draft_experts) if "draft" in d or d == "cascade" else [0]
                for k in ks:
                    for n in (ngrams if d in drafters_using("ngram") else [3]):
                        configs += [Config(d, k, t, n, e, v, de) for v in verifies for de in counts]
    return list(dict.fromkeys(configs))


# --- tuning --------------------------------------------------------------------------------------
SCREEN_REPEAT = 2  # interleaved runs of each screened configuration (with plain decoding) per round
LLAMA_K = 8  # the K a configuration llama.cpp runs drafts with when adaptive K settled on not drafting


def deployable(config: Config, has_draft: bool) -> bool:
    """Whether llama.cpp runs `config` as measured: a drafter it has a --spec-type for (export.py knows which), a
    fixed K and the draft gate off (llama.cpp has neither adaptive K nor the gate)."""
    from .engine.settings import Settings
    from .export import speculates

    return (config.drafter != "none" and isinstance(config.k, int) and config.gate == "off"
            and speculates(Settings(**config.settings()), has_draft))


def as_llama_runs(result: Result) -> Config:
    """A screened configuration as llama.cpp would run it: the K its adaptive policy settled on, fixed, no gate."""
    c = result.config
    k = result.k_settled if isinstance(c.k, str) else c.k
    return Config(c.drafter, k or LLAMA_K, c.temperature, c.ngram, c.experts, c.verify, gate="off")


def tune_measurements(n_candidates: int, n_baselines: int, final_repeat: int = 2, n_finalists: int = 4,
                      screen_repeat: int = SCREEN_REPEAT) -> int:
    """How many measurements `tune` makes for n candidates (for a progress bar with a known total): each round
    measures the survivors and the plain baselines of their temperatures screen_repeat times and keeps the best
    third (at least two); the final round measures at most n_finalists and the baselines, final_repeat times."""
    total, alive = 0, n_candidates
    while True:
        total += (alive + n_baselines) * screen_repeat
        alive = max(2, alive // 3) if alive > 2 else alive
        if alive <= 2:
            break
    return total + (n_finalists + n_baselines) * final_repeat


@dataclass
class Tuning:
    """What `tune` found. Unpacks as `winner, history`."""

    winner: Result  # the fastest of the final round (any configuration, the workbench's own included)
    deployable: Result | None  # the fastest of the final round that llama.cpp runs as measured
    history: list[Result]  # every measurement, screening rounds first
    families: list[Result]  # each drafter's best row, from the final round or the last round it was in

    def __iter__(self):  # noqa: ANN204
        yield self.winner
        yield self.history


def tune(engine: Engine, prompts: list[str], drafters: list[str], temps: list[float], ngrams: list[int],
         n_predict: int, progress: Callable[[str], None] | None = None, final_repeat: int = 2,
         screen_repeat: int = SCREEN_REPEAT, on_round: Callable[[str, list[Result]], None] | None = None) -> Tuning:
    """Successive halving over the drafters with adaptive K as the coarse K search, then a fixed-K check.

    A grid spends most of its time on K: every drafter at every length. Here each drafter (x n-gram size
    x allowed temperature) runs with adaptive K, which finds its own best K while it generates. Round 1 gives
    each one prompt and half the tokens, `screen_repeat` times interleaved with plain decoding, and ranks them by
    their median speedup over the plain run of the same round (so that one busy moment, which slows both, cannot
    crown a configuration); each round keeps the best third (at least two) and doubles prompts and tokens, until
    two are left. The final round measures those two, the leader at the fixed K its adaptive policy settled on,
    and the best configuration llama.cpp can run (the best screened drafter it has a type for, at its settled K
    without the draft gate) with plain decoding on the whole suite at the full budget, `final_repeat` times
    interleaved. Hopeless configurations cost one short round. `on_round(stage, results)` sees each round.
    """
    coarse = expand(drafters, ["auto"], temps, ngrams, [0])
    alive = [c for c in coarse if c.drafter != "none"]
    budget, n_prompts = max(16, n_predict // 2), 1
    history: list[Result] = []
    last: dict[Config, Result] = {}
    while len(alive) > 2 or not last:  # at least one round: the fixed-K check needs a settled K
        round_results = run_grid(engine, prompts[:n_prompts], alive, budget, screen_repeat, progress)
        stage = f"screen {len({r.stage for r in history}) + 1}"
        for r in round_results:
            r.stage = stage
        history += round_results
        if on_round:
            on_round(f"{stage}: {n_prompts} prompt{'s' * (n_prompts > 1)} x {budget} tokens", round_results)
        ranked = sorted((r for r in round_results if r.config.drafter != "none"), key=lambda r: r.speedup, reverse=True)
        last.update((r.config, r) for r in ranked)
        alive = [r.config for r in ranked[: max(2, len(ranked) // 3)]]
        budget, n_prompts = min(n_predict, budget * 2), min(len(prompts), n_prompts * 2)
    finalists = list(alive)
    leader = last.get(alive[0])
    if leader is not None and leader.k_settled > 0:
        c = leader.config
        finalists.append(Config(c.drafter, leader.k_settled, c.temperature, c.ngram, c.experts))
    has_draft = engine.draft is not None
    runnable = [as_llama_runs(r) for r in sorted(last.values(), key=lambda r: r.speedup, reverse=True)]
    runnable = [c for c in runnable if deployable(c, has_draft)]
    if runnable and not any(deployable(c, has_draft) for c in finalists):
        finalists.append(runnable[0])
    final = run_grid(engine, prompts, list(dict.fromkeys(finalists)), n_predict, final_repeat, progress)
    for r in final:
        r.stage = "final"
    history += final
    if on_round:
        on_round(f"final: {len(prompts)} prompts x {n_predict} tokens", final)
    drafted = [r for r in final if r.config.drafter != "none"]
    winner = max(drafted, key=lambda r: r.speedup)
    llama = [r for r in drafted if deployable(r.config, has_draft)]
    return Tuning(winner, max(llama, key=lambda r: r.speedup) if llama else None, history,
                  families(final, history, drafters))


def families(final: list[Result], history: list[Result], drafters: list[str]) -> list[Result]:
    """The final round's rows, then for each drafter that did not reach it its best row of the last round it ran in
    (a tune's table shows every drafter it was given, the draft model from -md included)."""
    rows = list(final)
    for d in drafters:
        if any(r.config.drafter == d for r in rows):
            continue
        mine = [r for r in history if r.config.drafter == d]
        if mine:
            stage = mine[-1].stage
            rows.append(max((r for r in mine if r.stage == stage), key=lambda r: r.speedup))
    return rows


# --- the commands --------------------------------------------------------------------------------
def _list(text: str, kind: Callable[[str], object], name: str) -> list:
    try:
        return [kind(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise WorkbenchError(f"{name} takes a comma-separated list, not {text!r}") from None


def _k(text: str) -> int | str:
    return text if text in AUTO_KS else int(text)


def _drafters(text: str, engine: Engine, say: Callable[[str], None]) -> list[str]:
    names = _list(text, str, "--drafters")
    for d in names:
        if "+" in d:  # a chain, as llama.cpp's --spec-type a,b
            try:
                parse_chain(d.replace("+", ","))
            except ValueError as e:
                raise WorkbenchError(f"{e} (in --drafters)") from None
        elif d not in DRAFTERS:
            raise WorkbenchError(f"unknown drafter {d!r} in --drafters")
    if "draft" in names and engine.draft is None:
        names.remove("draft")
        say("no draft model (-md): the draft drafter is left out")
    return names


def suite_prompts(args: argparse.Namespace) -> list[str]:
    """The prompts of -p, -f or --suite as written, before any chat template."""
    from . import suites

    if args.prompt is not None:
        return [args.prompt]
    if args.file is not None:
        return suites.read_file(args.file)
    return suites.load(args.suite, args.spec_bench)


def prompts_from_args(args: argparse.Namespace, engine: Engine) -> list[str]:
    from . import suites

    traffic = args.file if args.file is not None else args.suite
    if args.prompt is None and suites.is_traffic(traffic):  # `serve --log`: replayed as it was served
        return suites.replay(traffic, engine.target.chat_messages)
    prompts = suite_prompts(args)
    return prompts if args.raw else [engine.target.chat_prompt(p) for p in prompts]


def _progress():  # noqa: ANN202 (rich's Progress, imported inside)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    # what is left, estimated from the measurements so far, beside the time spent
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn(), console=console, transient=True,
                    disable=not console.is_terminal)


CHART_MARKERS = ("o", "x", "+", "*", "#", "@", "%", "&", "$", "=")
CHART_COLOURS = ("blue", "red", "green", "magenta", "cyan", "orange", "yellow", "violet", "indigo", "white")


def chart(results: list[Result], title: str) -> str:
    """tokens/s against K, one line per drafter (fixed K only), with plain decoding as a level line."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(78, 18)
    plt.theme("clear")
    plt.title(title)
    plain = [r.rate for r in results if r.config.drafter == "none"]
    ks: list[int] = []
    drafters = list(dict.fromkeys(r.config.drafter for r in results if r.config.drafter != "none"))
    for i, drafter in enumerate(drafters):
        points = sorted((r.config.k, r.rate) for r in results if r.config.drafter == drafter and isinstance(r.config.k, int))
        if points:
            best = {}
            for k, rate in points:  # the best n-gram size at each K
                best[k] = max(rate, best.get(k, 0.0))
            ks += best
            # a marker and a colour of its own per drafter: the markers tell them apart in a pipe, without colour
            plt.plot(list(best), list(best.values()), label=drafter, marker=CHART_MARKERS[i % len(CHART_MARKERS)],
                     color=CHART_COLOURS[i % len(CHART_COLOURS)])
    if plain and ks:  # a labelled level line, not an unnamed one
        plt.plot([min(ks), max(ks)], [plain[0]] * 2, label=f"plain {plain[0]:.1f}", marker="-", color="gray")
    plt.xlabel("K")
    plt.ylabel("tok/s")
    return plt.build()


def agreement_lines(results: list[Result]) -> list[str]:
    """What the outputs at T=0 did against plain decoding's, for below the table."""
    checked = [r for r in results if r.agreement is not None]
    if not checked:
        return []
    differing = [r for r in checked if not r.agreement.identical]  # type: ignore[union-attr]
    if not differing:
        return [f"output at T=0: identical to plain decoding for all {len(checked)} configurations"]
    lines = [f"output at T=0: {len(checked) - len(differing)} of {len(checked)} configurations identical to plain "
             "decoding; the others differ where batched and one-token logits round differently:"]
    lines += [f"  {r.config.label}: {r.agreement.describe()}" for r in differing]  # type: ignore[union-attr]
    return lines


def ordered(results: list[Result]) -> list[Result]:
    """Rows for the table: per temperature and expert count, plain decoding first, then the drafters grouped, the
    group with the fastest configuration first, each group fastest first (by speedup over plain decoding)."""
    best: dict[tuple[float, int, str], float] = {}
    for r in results:
        key = (r.config.temperature, r.config.experts, r.config.drafter)
        best[key] = max(best.get(key, 0.0), r.speedup)

    def sort_key(r: Result) -> tuple:
        c = r.config
        return (c.temperature, c.experts, c.drafter != "none", -best[(c.temperature, c.experts, c.drafter)],
                c.drafter, -r.speedup)
    return sorted(results, key=sort_key)


COST_WIDTHS = (2, 3, 4, 5, 6, 9, 13, 17, 25, 33, 49, 65)  # the batch widths the cost table shows when many were run


def cost_lines(results: list[Result]) -> list[str]:
    """What a verify batch of each width cost on this target, in plain steps (medians over every configuration's
    steps), and from which acceptance each K pays with drafting free (engine/payoff.py): the one fact of the machine
    that decides which configurations can pay. The app's payoff page (F9) shows the same from a run."""
    from .engine import payoff

    merged: dict[int, list[float]] = {}
    for r in results:
        for width, times in r.verify.items():
            merged.setdefault(width, []).extend(times)
    c = payoff.costs(merged)
    widths = [w for w in sorted(c.verify) if w > 1] if c else []
    if c is None or not widths:
        return ["verify cost: ? (no plain step and drafted step both measured)"]
    if len(widths) > 10:
        widths = [w for w in widths if w in COST_WIDTHS][:10]
    free = payoff.Costs(c.verify)  # drafting free: the target's share alone

    def pays(w: int) -> str:
        b = payoff.break_even(free, w - 1)
        return "never" if b is None else f"{100 * b:.0f}%"

    return ["what a verify batch costs this target, in plain decoding steps (medians), and the acceptance from which "
            "K pays with drafting free:",
            "  batch width " + "".join(f"{w:>7}" for w in widths),
            "  cost, steps " + "".join(f"{c.verify[w]:>7.2f}" for w in widths),
            "  K           " + "".join(f"{w - 1:>7}" for w in widths),
            "  pays from   " + "".join(f"{pays(w):>7}" for w in widths)]


def print_table(results: list[Result], title: str) -> None:
    from rich.table import Table

    runs = max((len(r.rates) for r in results), default=0)
    state_note = "; state ms: a recurrent target's state kept and restored, per drafting step" if any(
        r.state_ms for r in results) else ""
    table = Table(title=title, caption=f"medians of {runs} interleaved runs, min-max beside; vs plain: each run "
                                       "over plain decoding's in the same round; ~ plain: the spread includes 1.00x; "
                                       "draft ms/tok: drafting's time (a draft model's passes too) per token drafted"
                                       + state_note)
    state = any(r.state_ms for r in results)  # a recurrent target: the state's cost per drafting step
    rounds = len({r.stage for r in results}) > 1  # a tune's table: drafters from earlier rounds beside the final
    for col in ("configuration", "T", "tok/s", "min-max", "vs plain", "min-max ", "acceptance", "mean acc. len",
                "draft share", "draft ms/tok", *(["state ms"] if state else [])):
        table.add_column(col, justify="left" if col == "configuration" else "right", no_wrap=col == "configuration")
    rows = ordered(results)
    for i, r in enumerate(rows):
        plain = r.config.drafter == "none"
        if i and r.config.drafter != rows[i - 1].config.drafter:
            table.add_section()  # one group of rows per drafter
        table.add_row(r.config.label + (f" (mostly {r.k_settled})" if isinstance(r.config.k, str) else "")
                      + (f" [{r.stage}]" if rounds and r.stage != "final" else "")
                      + (f" experts={r.config.experts}" if r.config.experts else "")
                      + (f" draft-experts={r.config.draft_experts}" if r.config.draft_experts else ""),
                      f"{r.config.temperature:g}", f"{r.rate:.1f}", r.spread(),
                      f"{r.speedup:.2f}x" + (" ~ plain" if r.like_plain else ""), r.ratio_spread(),
                      "-" if plain else f"{100 * r.acceptance:.0f}%", f"{r.mean_accepted_length:.2f}",
                      f"{100 * r.draft_share:.0f}%", f"{r.draft_ms:.2f}" if r.draft_ms else "-",
                      *([f"{r.state_ms:.2f}" if r.state_ms else "-"] if state else []))
    out = console()
    out.print(table)
    for line in agreement_lines(results):
        out.print(line, markup=False)


def console():  # noqa: ANN201 (rich's Console, imported inside)
    """Where tables and charts go: the terminal's width, or, into a pipe or file, wide enough that no cell is cut
    (rich would otherwise assume 80 columns there and truncate every figure to "33…")."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 220)


def write_results(results: list[Result], json_path: str | None, csv_path: str | None, meta: dict) -> None:
    """Both files written atomically (engine/userfiles.py); one that fails does not keep the other from
    being written, and the first failure is the one line raised."""
    from .engine.userfiles import write_atomic

    rows = [r.to_json() for r in results]
    failures = []
    if json_path:
        try:
            write_atomic(json_path, json.dumps({"kind": "workbench-bench", **meta, "results": rows}, indent=1), "results file")
        except WorkbenchError as e:
            failures.append(e)
    if csv_path:
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=[k for k in rows[0] if k != "runs"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        try:
            write_atomic(csv_path, out.getvalue(), "CSV file")
        except WorkbenchError as e:
            failures.append(e)
    if failures:
        raise failures[0]


def bench(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise WorkbenchError(f"--repeat must be at least 1, not {args.repeat}")
    engine = engine_from_args(args)
    try:
        drafters = _drafters(args.drafters, engine, print)
        ks = _list(args.k, _k, "--k")
        temps = _list(args.temps, float, "--temps")
        ngrams = _list(args.ngram_list, int, "--ngram")
        experts = _list(args.experts_list, int, "--experts")
        for e in experts:
            engine.check_experts(e)
        draft_experts = _list(args.draft_experts_list, int, "--draft-experts")
        for e in draft_experts:
            engine.check_experts(e, draft=True)
        prompts = prompts_from_args(args, engine)
        verifies = _list(args.verify_list, str, "--verify")
        if any(v not in VERIFY for v in verifies):
            raise WorkbenchError(f"--verify takes {', '.join(VERIFY)}, not {args.verify_list!r}")
        configs = expand(drafters, ks, temps, ngrams, experts, verifies, draft_experts)
        total = args.repeat * len(list(dict.fromkeys([*(c.baseline() for c in configs), *configs])))
        with _progress() as bar:
            task = bar.add_task("benchmarking", total=total)
            results = run_grid(engine, prompts, configs, args.n_predict, args.repeat,
                               progress=lambda label: bar.update(task, advance=1, description=label))
        name = engine.target.info.name + (f" + {engine.draft.info.name}" if engine.draft else "")
        title = f"{name}: {len(prompts)} prompts x {args.n_predict} tokens, median of {args.repeat}"
        print_table(results, title)
        from rich.text import Text

        if warning := spread_warning(results):
            console().print(warning, style="bold yellow", markup=False)
        print("\n".join(cost_lines(results)))

        # through rich, so that a pipe or file gets the chart without colour codes
        console().print(Text.from_ansi(
            chart([r for r in results if r.config.temperature == temps[0]], f"tokens/s against K (T={temps[0]:g})")))
        write_results(results, args.json, args.csv, {"model": str(engine.target.info.path),
                                                     "draft": str(engine.draft.info.path) if engine.draft else None,
                                                     "prompts": len(prompts), "n_predict": args.n_predict})
    finally:
        engine.close()
    return 0


def round_lines(title: str, results: list[Result]) -> list[str]:
    """One screening (or the final) round: each configuration's median speedup over plain decoding measured beside it,
    with the spread of its runs, fastest first; plain decoding's own tokens/s and spread first."""
    lines = [f"{title}, {max(len(r.rates) for r in results)} interleaved runs each"]
    for r in sorted(results, key=lambda r: (r.config.drafter != "none", -r.speedup)):
        if r.config.drafter == "none":
            lines.append(f"  {'plain' + (f' T={r.config.temperature:g}' if r.config.temperature else ''):<34} "
                         f"{r.rate:7.1f} tok/s ({r.spread()})")
        else:
            lines.append(f"  {r.config.label:<34} {r.speedup:6.2f}x ({r.ratio_spread()})  {r.rate:7.1f} tok/s")
    return lines


def tie_line(final: list[Result], winner: Result) -> str | None:
    """The winner and the runner-up, when their runs' speedups overlap: a tie within the spreads, stated."""
    others = sorted((r for r in final if r.config.drafter != "none" and r is not winner), key=lambda r: -r.speedup)
    if not others or not winner.ratios or not others[0].ratios:
        return None
    second = others[0]
    if min(winner.ratios) > max(second.ratios):
        return None
    return (f"a tie within their spreads: {winner.config.label} {winner.ratio_spread()}x and {second.config.label} "
            f"{second.ratio_spread()}x plain decoding; either is as good here (rerun to separate them)")


def spread_warning(results: list[Result]) -> str | None:
    """Plain decoding's own runs far apart: the machine's pace moved while measuring, every ratio is uncertain."""
    for r in results:
        if r.config.drafter == "none" and len(r.rates) > 1 and min(r.rates) > 0 and max(r.rates) / min(r.rates) > 1.25:
            return (f"warning: plain decoding's own runs spread {r.spread()} tok/s (T={r.config.temperature:g}): the "
                    "machine's pace moved while measuring, so the speedups are uncertain; rerun on a quiet machine")
    return None


def tune_command(args: argparse.Namespace) -> int:

    from . import presets
    from .engine.settings import Settings
    from .machine import LoadMonitor

    out = console()
    engine = engine_from_args(args)
    try:
        drafters = [d for d in _drafters(args.drafters, engine, print) if d != "none"]
        if not drafters:
            raise WorkbenchError("--drafters names no drafter to tune")
        temps = _list(args.temps, float, "--temps")
        ngrams = _list(args.ngram_list, int, "--ngram")
        prompts = prompts_from_args(args, engine)
        start = time.perf_counter()
        monitor = LoadMonitor()
        candidates = [c for c in expand(drafters, ["auto"], temps, ngrams, [0]) if c.drafter != "none"]
        total = tune_measurements(len(candidates), len({c.temperature for c in candidates}))
        with _progress() as bar:
            task = bar.add_task("tuning", total=total)

            def step(label: str) -> None:
                monitor.sample()
                bar.update(task, advance=1, description=label)

            def on_round(title: str, results: list[Result]) -> None:
                print("\n".join(round_lines(title, results)), flush=True)  # above the bar, which takes stdout's lines

            found = tune(engine, prompts, drafters, temps, ngrams, args.n_predict, progress=step, on_round=on_round)
        winner, history, llama = found.winner, found.history, found.deployable
        print_table(found.families, f"tune: the final round on {len(prompts)} prompts x {args.n_predict} tokens, and "
                                    "each drafter that did not reach it at its last round")
        print("\n".join(cost_lines(history)))
        seconds = time.perf_counter() - start
        load = monitor.result()
        print(load.line())
        for warning in (load.warning(), spread_warning([r for r in history if r.stage == "final"])):
            if warning:
                out.print(warning, style="bold yellow", markup=False)

        def describe(r: Result) -> str:
            c = r.config
            settled = f" (mostly K={r.k_settled})" if isinstance(c.k, str) else ""
            return (f"{c.label}{settled} at T={c.temperature:g}: {r.rate:.1f} tok/s, {r.speedup:.2f}x plain decoding "
                    f"({r.ratio_spread()}; acceptance {100 * r.acceptance:.0f}%)")

        def plain_like(r: Result) -> bool:
            return r.speedup < 1.0 or r.like_plain or (isinstance(r.config.k, str) and r.k_settled == 0)

        print(f"best: {describe(winner)}, found in {seconds:.0f} s over {len(history)} measurements")
        if tie := tie_line([r for r in history if r.stage == "final"], winner):
            print(tie)
        if plain_like(winner):
            why = ("it mostly did not draft (adaptive K found drafting does not pay)" if isinstance(winner.config.k, str)
                   and winner.k_settled == 0 else f"its runs were {winner.ratio_spread()}x plain decoding's")
            print(f"note: the winner cannot be told from plain decoding ({why}): no configuration beat plain "
                  "decoding on this machine and suite; the preset is saved, labelled so")
        target, draft = str(engine.target.info.path), str(engine.draft.info.path) if engine.draft else None
        name = args.save or f"tuned-{Path(engine.target.info.path).stem}"

        def save(preset: str, r: Result, what: str) -> str:
            path = presets.save(preset, Settings(**r.config.settings()), target, draft,
                                f"tuned ({what}): {r.speedup:.2f}x plain on {len(prompts)} prompts"
                                + (" (no better than plain decoding here)" if plain_like(r) else ""))
            return f"saved as preset {preset} ({path})"

        print(save(name, winner, "the fastest"))
        export_name = name if llama is winner else None
        if llama is not None and llama is not winner:
            export_name = f"{name}-llama"
            print(f"best llama.cpp can run: {describe(llama)}")
            if llama.speedup < 1.0:
                print("  slower than plain decoding here: llama-server without speculative flags serves faster")
            print(save(export_name, llama, "the fastest llama.cpp runs"))
        print("next:")
        print(f"  workbench --preset {name}            see it run, with the colours and the plots")
        if export_name:
            print(f"  workbench export --preset {export_name}   the llama-server command for it")
        else:
            print("  (no drafter llama.cpp has a type for was tuned: add ngram-cache or a draft model with -md to "
                  "--drafters for a configuration to export)")
        write_results(history, args.json, None, {"model": target, "winner": winner.to_json(), "seconds": seconds,
                                                 "deployable": llama.to_json() if llama else None,
                                                 "machine": {"others": load.others, "steal": load.steal,
                                                             "load_average": load.load_average, "busy": load.busy}})
    finally:
        engine.close()
    return 0
