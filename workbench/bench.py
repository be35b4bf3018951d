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

    @property
    def label(self) -> str:
        if self.drafter == "none":
            return "plain"
        ngram = f" n={self.ngram}" if self.drafter in drafters_using("ngram") else ""
        return f"{self.drafter} K={self.k}{ngram}" + (" sequential" if self.verify == "sequential" else "")

    def settings(self, ceiling: int = AUTO_K_CEILING) -> dict[str, object]:
        adaptive = self.k if isinstance(self.k, str) else "off"
        # a chain is written with '+' in --drafters (the commas separate configurations there)
        drafter = {"drafter": "chain", "chain": self.drafter.replace("+", ",")} if "+" in self.drafter else {
            "drafter": self.drafter}
        return {**drafter, "draft_max": ceiling if isinstance(self.k, str) else self.k,
                "adaptive": adaptive, "temperature": self.temperature, "ngram": self.ngram, "experts": self.experts,
                "verify": self.verify, "draft_experts": self.draft_experts}

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
        return {"drafter": c.drafter, "k": c.k, "temperature": c.temperature, "ngram": c.ngram, "experts": c.experts, "verify": c.verify,
                "draft_experts": c.draft_experts, "draft_ms_per_token": self.draft_ms,
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
def tune_measurements(n_candidates: int, n_baselines: int, final_repeat: int = 2) -> int:
    """How many measurements `tune` makes for n candidates (for a progress bar with a known total): each round
    measures the survivors and the plain baselines of their temperatures once and keeps the best third (at
    least two); the final round measures at most three finalists and the baselines, final_repeat times."""
    total, alive = 0, n_candidates
    while True:
        total += alive + n_baselines
        alive = max(2, alive // 3) if alive > 2 else alive
        if alive <= 2:
            break
    return total + (min(alive, 2) + 1 + n_baselines) * final_repeat


def tune(engine: Engine, prompts: list[str], drafters: list[str], temps: list[float], ngrams: list[int],
         n_predict: int, progress: Callable[[str], None] | None = None,
         final_repeat: int = 2) -> tuple[Result, list[Result]]:
    """Successive halving over the drafters with adaptive K as the coarse K search, then a fixed-K check.

    A grid spends most of its time on K: every drafter at every length. Here each drafter (x n-gram size
    x allowed temperature) runs once with adaptive K, which finds its own best K while it generates. Round
    1 gives each one prompt and half the tokens; each round keeps the best third (at least two) and doubles
    prompts and tokens, until two are left. The final round measures those two, the leader at the fixed K
    its adaptive policy settled on (the K it asked for most often) and plain decoding on the whole suite
    at the full budget, with `final_repeat` interleaved repetitions so that one noisy run does not pick the
    winner. Hopeless configurations cost one short run.
    """
    coarse = expand(drafters, ["auto"], temps, ngrams, [0])
    alive = [c for c in coarse if c.drafter != "none"]
    budget, n_prompts = max(16, n_predict // 2), 1
    history: list[Result] = []
    last: dict[Config, Result] = {}
    while len(alive) > 2 or not last:  # at least one round: the fixed-K check needs a settled K
        round_results = run_grid(engine, prompts[:n_prompts], alive, budget, 1, progress)
        stage = f"screen {len({r.stage for r in history}) + 1}"
        for r in round_results:
            r.stage = stage
        history += round_results
        ranked = sorted((r for r in round_results if r.config.drafter != "none"), key=lambda r: r.rate, reverse=True)
        last.update((r.config, r) for r in ranked)
        alive = [r.config for r in ranked[: max(2, len(ranked) // 3)]]
        budget, n_prompts = min(n_predict, budget * 2), min(len(prompts), n_prompts * 2)
    finalists = list(alive)
    leader = last.get(alive[0])
    if leader is not None and leader.k_settled > 0:
        c = leader.config
        finalists.append(Config(c.drafter, leader.k_settled, c.temperature, c.ngram, c.experts))
    final = run_grid(engine, prompts, finalists, n_predict, final_repeat, progress)
    for r in final:
        r.stage = "final"
    history += final
    winner = max((r for r in final if r.config.drafter != "none"), key=lambda r: r.rate)
    return winner, history


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
    )

    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def chart(results: list[Result], title: str) -> str:
    """tokens/s against K, one line per drafter (fixed K only), with plain decoding as a level line."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(78, 18)
    plt.theme("clear")
    plt.title(title)
    plain = [r.rate for r in results if r.config.drafter == "none"]
    for drafter in DRAFTERS[1:]:
        points = sorted((r.config.k, r.rate) for r in results if r.config.drafter == drafter and isinstance(r.config.k, int))
        if points:
            best = {}
            for k, rate in points:  # the best n-gram size at each K
                best[k] = max(rate, best.get(k, 0.0))
            plt.plot(list(best), list(best.values()), label=drafter, marker="dot")
    if plain:
        plt.hline(plain[0])
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


def print_table(results: list[Result], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    runs = max((len(r.rates) for r in results), default=0)
    state_note = "; state ms: a recurrent target's state kept and restored, per drafting step" if any(
        r.state_ms for r in results) else ""
    table = Table(title=title, caption=f"medians of {runs} interleaved runs, min-max beside; vs plain: each run "
                                       "over plain decoding's in the same round; ~ plain: the spread includes 1.00x; "
                                       "draft ms/tok: drafting's time (a draft model's passes too) per token drafted"
                                       + state_note)
    state = any(r.state_ms for r in results)  # a recurrent target: the state's cost per drafting step
    for col in ("configuration", "T", "tok/s", "min-max", "vs plain", "min-max ", "acceptance", "mean acc. len",
                "draft share", "draft ms/tok", *(["state ms"] if state else [])):
        table.add_column(col, justify="left" if col == "configuration" else "right", no_wrap=col == "configuration")
    for r in sorted(results, key=lambda r: (r.config.temperature, r.config.experts, -r.rate)):
        plain = r.config.drafter == "none"
        table.add_row(r.config.label + (f" (mostly {r.k_settled})" if isinstance(r.config.k, str) else "")
                      + (f" experts={r.config.experts}" if r.config.experts else "")
                      + (f" draft-experts={r.config.draft_experts}" if r.config.draft_experts else ""),
                      f"{r.config.temperature:g}", f"{r.rate:.1f}", r.spread(),
                      f"{r.speedup:.2f}x" + (" ~ plain" if r.like_plain else ""), r.ratio_spread(),
                      "-" if plain else f"{100 * r.acceptance:.0f}%", f"{r.mean_accepted_length:.2f}",
                      f"{100 * r.draft_share:.0f}%", f"{r.draft_ms:.2f}" if r.draft_ms else "-",
                      *([f"{r.state_ms:.2f}" if r.state_ms else "-"] if state else []))
    console = Console(highlight=False)
    console.print(table)
    for line in agreement_lines(results):
        console.print(line, markup=False)


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
        from rich.console import Console
        from rich.text import Text

        # through rich, so that a pipe or file gets the chart without colour codes
        Console(highlight=False).print(Text.from_ansi(
            chart([r for r in results if r.config.temperature == temps[0]], f"tokens/s against K (T={temps[0]:g})")))
        write_results(results, args.json, args.csv, {"model": str(engine.target.info.path),
                                                     "draft": str(engine.draft.info.path) if engine.draft else None,
                                                     "prompts": len(prompts), "n_predict": args.n_predict})
    finally:
        engine.close()
    return 0


def tune_command(args: argparse.Namespace) -> int:
    from . import presets
    engine = engine_from_args(args)
    try:
        drafters = [d for d in _drafters(args.drafters, engine, print) if d != "none"]
        if not drafters:
            raise WorkbenchError("--drafters names no drafter to tune")
        temps = _list(args.temps, float, "--temps")
        ngrams = _list(args.ngram_list, int, "--ngram")
        prompts = prompts_from_args(args, engine)
        start = time.perf_counter()
        candidates = [c for c in expand(drafters, ["auto"], temps, ngrams, [0]) if c.drafter != "none"]
        total = tune_measurements(len(candidates), len({c.temperature for c in candidates}))
        with _progress() as bar:
            task = bar.add_task("tuning", total=total)
            winner, history = tune(engine, prompts, drafters, temps, ngrams, args.n_predict,
                                   progress=lambda label: bar.update(task, advance=1, description=label))
        print_table([r for r in history if r.stage == "final"],
                    f"tune: the final round on {len(prompts)} prompts x {args.n_predict} tokens")
        seconds = time.perf_counter() - start
        c = winner.config
        settings = c.settings()
        settled = f" (mostly K={winner.k_settled})" if isinstance(c.k, str) else ""
        print(f"best: {c.label}{settled} at T={c.temperature:g}: {winner.rate:.1f} tok/s, {winner.speedup:.2f}x plain "
              f"decoding (acceptance {100 * winner.acceptance:.0f}%), found in {seconds:.0f} s over {len(history)} "
              "measurements")
        disguised = winner.speedup < 1.0 or winner.like_plain or (isinstance(c.k, str) and winner.k_settled == 0)
        if disguised:
            why = ("it mostly did not draft (adaptive K found drafting does not pay)" if isinstance(c.k, str)
                   and winner.k_settled == 0 else f"its runs were {winner.ratio_spread()}x plain decoding's")
            print(f"note: the winner cannot be told from plain decoding ({why}): no configuration beat plain "
                  "decoding on this machine and suite; the preset is saved, labelled so")
        from .engine.settings import Settings

        name = args.save or f"tuned-{Path(engine.target.info.path).stem}"
        path = presets.save(name, Settings(**{k: v for k, v in settings.items()}),
                            str(engine.target.info.path), str(engine.draft.info.path) if engine.draft else None,
                            f"tuned: {winner.speedup:.2f}x plain on {len(prompts)} prompts"
                            + (" (no better than plain decoding here)" if disguised else ""))
        print(f"saved as preset {name} ({path})")
        write_results(history, args.json, None, {"model": str(engine.target.info.path), "winner": winner.to_json(),
                                                 "seconds": seconds})
    finally:
        engine.close()
    return 0
