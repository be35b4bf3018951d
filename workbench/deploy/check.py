"""`workbench deploy-check`: the exported configuration run in a real llama-server beside the workbench, on the
same requests.

For each configuration (the settings given, a preset's, or a grid like bench's) and plain decoding:
- llama-server is started on a free loopback port with the command `workbench export` writes for it (export's
  own functions, not flags derived again here), plus what the check needs: `-np 1` (one slot, as the workbench
  serves one request at a time), `--metrics`, `--host 127.0.0.1 --port N`; the suite's prompts go through its
  OpenAI API (`/v1/completions`, the prompt text as the workbench renders it, chat template included, so both
  tools decode the same prompt tokens), and each response's `timings` give the decode rate and the drafted and
  accepted tokens; then it is stopped;
- the workbench runs the same prompts with the same settings through its engine directly, in this process
  (the workbench's own `serve` endpoint is not used: it is not part of this tree yet).
A configuration's state is fresh at the start of each round on both sides (a new server; `engine.forget()`) and
lives across the suite's prompts as it does in a server; `--cold` starts every request fresh on both sides.
Rounds interleave the two tools and the configurations, in a rotated order.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..client import Client, Reply
from ..engine.errors import WorkbenchError
from ..engine.settings import LiveSettings, Settings
from ..signals import interrupt_on_signals
from .server import LlamaServer, check_executable

WORKBENCH, LLAMA, ENDPOINT = "workbench", "llama-server", "endpoint"


@dataclass
class Round:
    tokens: int
    seconds: float  # decode time after prompt processing, summed over the suite
    drafted: int
    accepted: int
    outputs: list[list[int]] | list[str]  # the workbench's token ids, or the server's texts, per prompt

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Row:
    config: str
    tool: str
    settings: Settings | None  # the workbench's; None for an endpoint
    argv: list[str] = field(default_factory=list)  # llama-server's command (without the check's own flags)
    notes: list[str] = field(default_factory=list)  # export's comments: what llama-server could not run
    rounds: list[Round] = field(default_factory=list)
    speedups: list[float] = field(default_factory=list)
    output: str = "?"
    checks: list[str] = field(default_factory=list)

    @property
    def plain(self) -> bool:
        return self.settings is not None and self.settings.drafter == "none"

    def drafted(self) -> int:
        return int(statistics.median(r.drafted for r in self.rounds)) if self.rounds else 0

    def accepted(self) -> int:
        return int(statistics.median(r.accepted for r in self.rounds)) if self.rounds else 0

    def acceptance(self) -> float | None:
        drafted = sum(r.drafted for r in self.rounds)
        return sum(r.accepted for r in self.rounds) / drafted if drafted else None

    def to_json(self) -> dict[str, object]:
        rates = [r.rate for r in self.rounds]
        return {"config": self.config, "tool": self.tool,
                "tokens_per_second": statistics.median(rates) if rates else None,
                "tokens_per_second_runs": rates,
                "speedup": statistics.median(self.speedups) if self.speedups else None,
                "speedup_runs": self.speedups, "acceptance": self.acceptance(),
                "drafted": self.drafted(), "accepted": self.accepted(), "output": self.output,
                "command": shlex.join(self.argv) if self.argv else None, "not_run_by_llama_server": self.notes}


# --- running one round of one row ---------------------------------------------------------------------------

def run_workbench(engine: object, prompts: list[str], n: int, settings: Settings, policies: dict,
                  cold: bool) -> Round:
    tokens = drafted = accepted = 0
    seconds = 0.0
    outputs: list[list[int]] = []
    engine.forget()  # type: ignore[attr-defined]  # a fresh state, as a newly started server has
    for prompt in prompts:
        if cold:
            engine.forget()  # type: ignore[attr-defined]
        t = engine.generate(prompt, n, k_policies=policies, **asdict(settings))  # type: ignore[attr-defined]
        s = t.stats
        tokens, seconds = tokens + s.n_emitted, seconds + s.elapsed
        drafted, accepted = drafted + s.n_drafted, accepted + s.n_accepted
        outputs.append(t.emitted_ids)
    return Round(tokens, seconds, drafted, accepted, outputs)


def serve_round(client: Client, prompts: list[str], n: int, chat: bool = False) -> tuple[Round, list[Reply]]:
    """The suite through an OpenAI-compatible server: decode rate and drafting from llama-server's `timings`
    (a server without them: completion tokens over each request's wall time, drafting 0)."""
    replies = [client.chat(p, n) if chat else client.complete(p, n) for p in prompts]
    tokens = drafted = accepted = 0
    seconds = 0.0
    for r in replies:
        if r.timings is not None:
            tokens, seconds = tokens + r.timings.predicted_n, seconds + r.timings.predicted_ms / 1000
            drafted, accepted = drafted + r.timings.draft_n, accepted + r.timings.draft_n_accepted
        else:
            tokens, seconds = tokens + r.completion_tokens, seconds + r.seconds
    return Round(tokens, seconds, drafted, accepted, [r.text for r in replies]), replies


def run_llama(row: Row, server_path: Path, prompts: list[str], n: int, cold: bool) -> Round:
    argv = [str(server_path), *row.argv[1:]]
    batches = [[p] for p in prompts] if cold else [prompts]
    parts: list[Round] = []
    for batch in batches:
        server = LlamaServer(argv)
        try:
            server.start()
            with Client(server.url) as client:
                part, _ = serve_round(client, batch, n)
                _check_metrics(row, client, part)
        finally:
            server.stop()
        server.remove_log()
        parts.append(part)
    return Round(sum(p.tokens for p in parts), sum(p.seconds for p in parts), sum(p.drafted for p in parts),
                 sum(p.accepted for p in parts), [o for p in parts for o in p.outputs])  # type: ignore[misc]


def _check_metrics(row: Row, client: Client, part: Round) -> None:
    """llama-server's /metrics counters against the sum of its responses' timings (a note if they differ)."""
    m = client.metrics()
    drafted = m.get("llamacpp:spec_decode_num_draft_tokens_total")
    accepted = m.get("llamacpp:spec_decode_num_accepted_tokens_total")
    if drafted is None or accepted is None:
        return
    if (int(drafted), int(accepted)) != (part.drafted, part.accepted):
        note = (f"/metrics counted {int(accepted)}/{int(drafted)} accepted/drafted, the responses' timings "
                f"{part.accepted}/{part.drafted}")
        if note not in row.checks:
            row.checks.append(note)


# --- comparing outputs ---------------------------------------------------------------------------------------

def first_difference_text(model: object, reference: list[int], text: str) -> int | None:
    """Where a server's text leaves the workbench's tokens (their pieces, concatenated), or None if it does not."""
    data, pos = text.encode("utf-8"), 0
    for i, token in enumerate(reference):
        piece = model.piece(token)  # type: ignore[attr-defined]
        if data[pos:pos + len(piece)] != piece:
            return i
        pos += len(piece)
    return None if pos >= len(data) else len(reference)


def first_difference_ids(reference: list[int], ids: list[int]) -> int | None:
    for i, (a, b) in enumerate(zip(reference, ids, strict=False)):
        if a != b:
            return i
    return None if len(reference) == len(ids) else min(len(reference), len(ids))


def describe_output(model: object, reference: list[list[int]], outputs: list[list[int]] | list[str]) -> str:
    for i, (ref, out) in enumerate(zip(reference, outputs, strict=True)):
        at = first_difference_text(model, ref, out) if isinstance(out, str) else first_difference_ids(ref, out)
        if at is not None:
            where = f"prompt {i + 1}, " if len(reference) > 1 else ""
            token = model.piece(ref[at]).decode("utf-8", "replace") if at < len(ref) else "(end)"  # type: ignore[attr-defined]
            return f"differs at {where}token {at} ({token!r})"
    return "same"


# --- the table ---------------------------------------------------------------------------------------------

def _median(values: list[float], fmt: str) -> str:
    return format(statistics.median(values), fmt) if values else "?"


def _spread(values: list[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}-{format(max(values), fmt)}" if len(values) > 1 else "-"


def print_table(rows: list[Row], title: str) -> None:
    from rich.table import Table

    from ..bench import console

    table = Table(title=title, caption="tok/s: decode rate after prompt processing (llama-server: its timings), "
                                       "median and min-max over rounds; speedup: over the same tool's plain decoding "
                                       "in the same round; drafted/accepted: tokens per round (median); output: "
                                       "against the workbench's plain decoding, first round")
    for col in ("configuration", "tool", "tok/s", "min-max", "speedup", "min-max ", "acceptance", "drafted/accepted",
                "output"):
        table.add_column(col, justify="left" if col in ("configuration", "tool", "output") else "right",
                         no_wrap=col != "output")
    last = None
    for row in rows:
        if last is not None and row.config != last:
            table.add_section()
        first, last = row.config != last, row.config
        acc = row.acceptance()
        rates = [r.rate for r in row.rounds]
        table.add_row(row.config if first else "", row.tool, _median(rates, ".1f"), _spread(rates, ".1f"),
                      "-" if row.plain else _median(row.speedups, ".2f") + ("x" if row.speedups else ""),
                      "-" if row.plain else _spread(row.speedups, ".2f"),
                      "-" if acc is None else f"{100 * acc:.1f}%",
                      "-" if acc is None else f"{row.drafted()}/{row.accepted()}", row.output)
    out = console()
    out.print(table)
    for row in rows:
        if row.tool == LLAMA and row.notes:
            out.print(f"{row.config}: llama-server could not run:", markup=False)
            for note in row.notes:
                out.print(f"  # {note}", markup=False)
        for check in row.checks:
            out.print(f"{row.config} ({row.tool}): {check}", markup=False)


# --- the command -------------------------------------------------------------------------------------------

def configurations(args: argparse.Namespace, base: Settings) -> list[tuple[str, Settings]]:
    """(label, settings): plain decoding first, then the grid (--drafters x --k) over the base settings, or the
    base settings alone."""
    from ..bench import AUTO_KS, _list

    def label(s: Settings) -> str:
        if s.drafter == "none":
            return "plain"
        name = s.chain.replace(",", "+") if s.drafter == "chain" else s.drafter
        return f"{name} K={s.adaptive if s.adaptive != 'off' else s.draft_max}"

    plain = LiveSettings(base, drafter="none").snapshot()
    out = [("plain", plain)]
    if args.drafters:
        ks = _list(args.k, lambda x: x if x in AUTO_KS else int(x), "--k") if args.k else [base.draft_max]
        for d in _list(args.drafters, str, "--drafters"):
            if d == "none":
                continue
            for k in ks:
                s = LiveSettings(base, drafter=d.replace("+", ","), draft_max=k).snapshot()
                out.append((label(s), s))
    elif base.drafter != "none":
        out.append((label(base), base))
    return list(dict(out).items())


def deploy_check(args: argparse.Namespace) -> int:
    from .. import presets
    from ..args import engine_from_args
    from ..bench import prompts_from_args
    from ..export import command_for, settings_for
    from . import llama_build

    if args.repeat < 1:
        raise WorkbenchError(f"--repeat must be at least 1, not {args.repeat}")
    against = Client(args.against) if args.against else None
    if against is not None:
        against.check()
    if args.llama_server:
        server_path = check_executable(args.llama_server)
    elif against is None:
        server_path = llama_build.ensure([llama_build.SERVER])[llama_build.SERVER]
    else:
        server_path = None
    preset = presets.load(args.preset) if args.preset else None
    if preset is not None:
        args.model = args.model or preset.target
        args.draft = args.draft or preset.draft
    engine = engine_from_args(args)
    try:
        with interrupt_on_signals():  # SIGTERM and SIGHUP end it as ctrl+c does: every server is stopped
            return _check(args, engine, preset, server_path, against, command_for, settings_for,
                          prompts_from_args(args, engine))
    finally:
        engine.close()
        if against is not None:
            against.close()


def _check(args: argparse.Namespace, engine: object, preset: object, server_path: Path | None,
           against: Client | None, command_for: object, settings_for: object, prompts: list[str]) -> int:
    target, draft = engine.target, engine.draft  # type: ignore[attr-defined]
    base = settings_for(args, preset, draft is not None)  # type: ignore[operator]
    configs = configurations(args, base)
    rows: list[Row] = []
    for label, settings in configs:
        text = command_for(settings, target.info.path, draft.info.path if draft else None,  # type: ignore[operator]
                           threads=target.options.n_threads, ctx_size=target.n_ctx, batch_size=args.batch_size,
                           flash_attn=args.flash_attn, lookup_cache_static=args.lookup_cache_static,
                           lookup_cache_dynamic=args.lookup_cache_dynamic, cross_vocab=args.cross_vocab)
        lines = text.splitlines()
        notes = [line[2:] for line in lines if line.startswith("# ")]
        argv = shlex.split(lines[-1])
        rows.append(Row(label, WORKBENCH, settings))
        if server_path is not None:
            rows.append(Row(label, LLAMA, settings, argv=argv, notes=notes))
    if against is not None:
        rows.append(Row(f"endpoint {args.against}", ENDPOINT, None))
    for row in rows:
        if row.tool == LLAMA:
            print(f"{row.config}: {shlex.join([str(server_path), *row.argv[1:]])} -np 1 --metrics --host 127.0.0.1 "
                  "--port N", flush=True)
    print(f"workbench: its engine, in this process ({len(prompts)} prompts x {args.n_predict} tokens, "
          f"{args.repeat} rounds)", flush=True)
    engine.generate(prompts[0], 8, drafter="none")  # type: ignore[attr-defined]  # warm-up: page the weights in
    policies: dict[str, dict] = {row.config: {} for row in rows}
    for r in range(args.repeat):
        shift = r % len(rows)
        for row in rows[shift:] + rows[:shift] if r else rows:  # workbench plain first: every output's reference
            if row.tool == WORKBENCH:
                result = run_workbench(engine, prompts, args.n_predict, row.settings, policies[row.config], args.cold)
            elif row.tool == LLAMA:
                result = run_llama(row, server_path, prompts, args.n_predict, args.cold)  # type: ignore[arg-type]
            else:
                result, _ = serve_round(against, prompts, args.n_predict)  # type: ignore[arg-type]
            row.rounds.append(result)
            print(f"  round {r + 1}/{args.repeat} {row.config:24s} {row.tool:12s} {result.rate:7.1f} tok/s  "
                  f"drafted/accepted {result.drafted}/{result.accepted}", flush=True)
    reference = next(row for row in rows if row.tool == WORKBENCH and row.plain).rounds[0].outputs
    for row in rows:
        plain = next((p for p in rows if p.plain and p.tool == row.tool), None)
        if plain is not None and not row.plain:
            row.speedups = [a.rate / b.rate for a, b in zip(row.rounds, plain.rounds, strict=True) if b.rate > 0]
        row.output = describe_output(target, reference, row.rounds[0].outputs)  # type: ignore[arg-type]
    name = target.info.name + (f" + {draft.info.name}" if draft else "")
    print_table(rows, f"{name}: {len(prompts)} prompts x {args.n_predict} tokens, {args.repeat} rounds")
    if args.json:
        try:
            Path(args.json).write_text(json.dumps({"kind": "workbench-deploy-check", "model": str(target.info.path),
                                                   "prompts": len(prompts), "n_predict": args.n_predict,
                                                   "rows": [row.to_json() for row in rows]}, indent=1))
        except OSError as e:
            raise WorkbenchError(f"cannot write {args.json}: {e.strerror}") from None
    return 0


__all__ = ["deploy_check", "serve_round"]
