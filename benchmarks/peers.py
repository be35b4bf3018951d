"""Head-to-head with llama.cpp's own tools: workbench's drafters against `llama-lookup` and
`llama-speculative-simple` on the same model, prompt tokens, threads and token budget, greedy.

    python benchmarks/peers.py [--rounds 3] [-n 192] [--forms raw,chat] [--targets Q4_1,F16]
                               [--only lookup|speculative] [--threads 2]

The two tools are built once from the llama.cpp source inside the llama-cpp-python sdist of the installed
version (workbench/deploy/llama_build.py: no prebuilt binaries; the first run downloads the sdist with pip and
compiles for ~10 minutes on 2 cores) into the user cache dir, `<cache>/workbench/llama.cpp-<version>/build/bin/`,
and reused afterwards.

What runs, per prompt form (RAW: Spec-Bench summarization question 0 as is; CHAT: the same question as a user
turn in the model's chat template, rendered to text) and target (the embedded SmolLM2-135M-Instruct Q4_1, and
its F16 derived with llama.cpp's quantizer):
- `lookup` group: workbench plain decoding, `ngram-cache` (our port of llama.cpp's, what llama-lookup runs;
  also with the draft gate off, drafting exactly as llama-lookup does, so that the two acceptances compare the
  ports) and our prompt `lookup`, each at K=8 and at adaptive K (`--draft-max auto`), against llama-lookup at
  `--spec-draft-n-max 8`, and llama-lookup at K=0, which never drafts: llama.cpp's plain decoding, timed alike;
- `speculative` group (targets other than the draft): workbench's `draft` drafter with the Q4_1 draft model
  at K=8, K=3 (llama.cpp's default n_max) and adaptive K, against llama-speculative-simple at the same K.

Fairness: both sides get the same token ids. The prompt is tokenised here once the way the tools do it
(`common_tokenize(ctx, prompt, add_special=true, parse_special=true)`), fed to workbench as ids, and written to
a file for `-f` (with one extra newline: `-f` drops the file's last one; `--no-escape`: no backslash escapes);
the tools echo the prompt, and the echo and the token count are checked against ours. Same context (-c),
batch sizes (-b/-ub), threads (-t/-tb), flash attention (off: llama-cpp-python's default, which the engine
uses; llama.cpp's tools would pick `auto`), sampling greedy (--temp 0 --top-k 1). Every run starts cold:
workbench's `engine.forget()` and a fresh adaptive-K policy per run; llama-lookup a fresh, empty dynamic
cache file. Rounds interleave every configuration in a rotated order.

tokens/s is the decode rate after prompt processing on both sides: workbench's Stats.tokens_per_second
(emitted tokens over the time from the end of prompt processing to the last token), the tools' own
"decoded N tokens in T seconds" line. The tools stop once they have *more* than -n tokens (193+ for -n 192),
and their first token comes from the logits of prompt processing (its pass is outside their decode time),
a bias in their favour of about one plain step in N. acceptance is accepted / drafted tokens ("n_accept" /
"n_drafted" of the tools). Ratios are medians of per-round ratios (a config's rate over workbench plain's,
or over its llama.cpp peer's, in the same round). The output column compares each run's tokens (the tools:
their printed text) with workbench plain decoding's, in the first round.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("llama-lookup", "llama-speculative-simple")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ensure_tools(jobs: int = 2) -> dict[str, Path]:
    """Paths of llama-lookup and llama-speculative-simple, built once per llama-cpp-python version
    (workbench/deploy/llama_build.py)."""
    from workbench.deploy import llama_build
    from workbench.engine.errors import WorkbenchError

    try:
        return llama_build.ensure(TOOLS, jobs)
    except WorkbenchError as e:
        raise SystemExit(f"peers: {e}") from None


# ----------------------------------------------------------------------------------------------------
# configurations and measurements
# ----------------------------------------------------------------------------------------------------

@dataclass
class Run:
    rate: float  # decode tokens/s
    tokens: int  # tokens the rate counts
    drafted: int
    accepted: int
    output: str  # vs workbench plain: "same", "differs at token N", ...
    ids: list[int] | None = None  # workbench: the emitted token ids
    text: bytes | None = None  # a tool: the generated text it printed


@dataclass
class Config:
    label: str
    group: str  # "lookup" or "speculative"
    settings: dict | None = None  # workbench: generate()'s settings; None for a llama.cpp tool
    tool: str = ""  # llama.cpp: the binary's name
    args: list[str] = field(default_factory=list)  # llama.cpp: its own flags (K, draft model)
    peer: str | None = None  # label of the llama.cpp configuration this one is compared with
    twin: str | None = None  # a tool: the workbench configuration that should produce the same tokens
    runs: list[Run] = field(default_factory=list)

    @property
    def is_llama(self) -> bool:
        return self.settings is None


@dataclass
class Case:
    form: str  # "raw" or "chat"
    target: str  # quant name
    engine: object  # workbench Engine
    ids: list[int]
    prompt_file: Path
    prompt_echo: bytes  # the prompt's pieces as the tools print them
    configs: list[Config]
    reference: list[int] | None = None  # workbench plain's output ids (first round)
    checks: list[str] = field(default_factory=list)


_DECODED = re.compile(rb"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s")
_ENCODED = re.compile(rb"encoded\s+(\d+) tokens in")
_DRAFTED = re.compile(rb"n_drafted\s*=\s*(\d+)")
_ACCEPTED = re.compile(rb"n_accept\s*=\s*(\d+)")


def piece(model: object, token: int) -> bytes:
    """A token's text as llama.cpp's tools print it (common_token_to_piece: special tokens rendered)."""
    import llama_cpp

    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(model.vocab, token, buf, len(buf), 0, True)  # type: ignore[attr-defined]
    return buf.raw[:max(n, 0)]


def compare_ids(reference: list[int], ids: list[int]) -> str:
    n = min(len(reference), len(ids))
    for i in range(n):
        if reference[i] != ids[i]:
            return f"differs at token {i}"
    return "same" if len(reference) == len(ids) else f"same for {n} tokens (lengths {len(ids)}/{len(reference)})"


def compare_text(model: object, reference: list[int], text: bytes, n_predict: int) -> str:
    """The tool's printed output against workbench plain's tokens rendered the same way: the tools generate
    a few tokens more (they stop after more than -n), so theirs may run on past ours."""
    pos = 0
    for i, token in enumerate(reference):
        p = piece(model, token)
        if text[pos:pos + len(p)] != p:
            common = len(_common_prefix(text[pos:], p))
            return f"differs at token {i}" + (" (text ended)" if pos + common >= len(text) else "")
        pos += len(p)
    rest = text[pos:]
    if len(reference) < n_predict and rest:  # workbench stopped at end-of-generation; the tool printed it
        eog = [piece(model, t) for t in (model.llm.token_eos(),) if t >= 0]  # type: ignore[attr-defined]
        if not any(rest.startswith(e) for e in eog if e):
            return f"differs at token {len(reference)} (workbench ended, the tool went on)"
    return "same"


def _common_prefix(a: bytes, b: bytes) -> bytes:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def run_workbench(case: Case, config: Config, n_predict: int) -> Run:
    engine = case.engine
    engine.forget()  # type: ignore[attr-defined]
    # a fresh adaptive-K policy: every run starts cold, as each llama.cpp process does
    t = engine.generate(case.ids, n_predict, k_policies={}, **config.settings)  # type: ignore[attr-defined]
    s = t.stats
    ids = t.emitted_ids
    if config.settings.get("drafter") == "none" and case.reference is None:  # type: ignore[union-attr]
        case.reference = ids
    output = compare_ids(case.reference, ids) if case.reference is not None else "?"
    return Run(s.tokens_per_second, s.n_emitted, s.n_drafted, s.n_accepted, output, ids=ids)


def llama_command(paths: dict[str, Path], case: Case, config: Config, n_predict: int, args: argparse.Namespace,
                  scratch: Path) -> list[str]:
    cmd = [str(paths[config.tool]), "-m", str(case.engine.target.info.path),  # type: ignore[attr-defined]
           "-f", str(case.prompt_file), "--no-escape", "-n", str(n_predict),
           "-t", str(args.threads), "-tb", str(args.threads), "-c", str(args.ctx),
           # both tools take the whole prompt in one batch: -b must hold it (-ub is the engine's n_batch, which
           # is also its n_ubatch; batch sizes only shape prompt processing, which no rate here includes)
           "-b", str(max(args.batch, args.ctx)), "-ub", str(args.batch), "-fa", args.flash_attn, "-fit", "off",
           "--temp", "0", "--top-k", "1", "--seed", "0", *config.args]
    if config.tool == "llama-lookup":
        cmd += ["-lcd", str(scratch / "lookup-dynamic.bin")]  # fresh and empty for every run (deleted before it)
    return cmd


def run_llama(paths: dict[str, Path], case: Case, config: Config, n_predict: int, args: argparse.Namespace,
              scratch: Path, shown: set[str]) -> Run:
    cmd = llama_command(paths, case, config, n_predict, args, scratch)
    (scratch / "lookup-dynamic.bin").unlink(missing_ok=True)
    key = f"{config.label} on {case.target}"
    if key not in shown:
        shown.add(key)
        printable = [a if a != str(case.prompt_file) else "PROMPT.txt" for a in cmd]
        print(f"  command ({key}): {shlex.join(printable)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True)
    err = proc.stderr
    if proc.returncode != 0 or not _DECODED.search(err):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-15:]
        raise SystemExit(f"{config.tool} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail))
    m = _DECODED.search(err)
    n_tok, seconds = int(m.group(1)), float(m.group(2))  # type: ignore[union-attr]
    drafted = int(m.group(1)) if (m := _DRAFTED.search(err)) else 0
    accepted = int(m.group(1)) if (m := _ACCEPTED.search(err)) else 0
    out = proc.stdout
    encoded = int(m.group(1)) if (m := _ENCODED.search(err)) else -1
    # stdout: "\n\n", the prompt's pieces, the generated pieces, "\n\n", "\n\n"
    head = b"\n\n" + case.prompt_echo
    check = f"{config.tool}: prompt of {encoded} tokens (ours {len(case.ids)}), echo " + \
        ("identical" if out.startswith(head) else "DIFFERENT")
    if check not in case.checks:
        case.checks.append(check)
    text = out[len(head):] if out.startswith(head) else out
    text = text[:-4] if text.endswith(b"\n\n\n\n") else text
    model = case.engine.target  # type: ignore[attr-defined]
    output = compare_text(model, case.reference, text, n_predict) if case.reference is not None else "?"
    return Run(n_tok / seconds if seconds > 0 else 0.0, n_tok, drafted, accepted, output, text=text)


# ----------------------------------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------------------------------

def lookup_configs(k: int, extra: list[str]) -> list[Config]:
    configs = [
        Config("workbench plain", "lookup", {"drafter": "none", "temperature": 0.0}, peer="llama-lookup K=0 (plain)"),
        Config(f"workbench ngram-cache K={k}", "lookup", {"drafter": "ngram-cache", "draft_max": k, "temperature": 0.0},
               peer=f"llama-lookup K={k}"),
        # the port alone, drafting as llama-lookup does (no draft gate): its acceptance should be llama-lookup's
        Config(f"workbench ngram-cache K={k} gate off", "lookup",
               {"drafter": "ngram-cache", "draft_max": k, "draft_gate": "off", "temperature": 0.0},
               peer=f"llama-lookup K={k}"),
        Config("workbench ngram-cache K=auto", "lookup",
               {"drafter": "ngram-cache", "draft_max": "auto", "temperature": 0.0}, peer=f"llama-lookup K={k}"),
        Config(f"workbench lookup K={k}", "lookup", {"drafter": "lookup", "draft_max": k, "temperature": 0.0},
               peer=f"llama-lookup K={k}"),
        Config("workbench lookup K=auto", "lookup", {"drafter": "lookup", "draft_max": "auto", "temperature": 0.0},
               peer=f"llama-lookup K={k}"),
    ]
    for item in extra:  # drafter:K
        name, _, kk = item.partition(":")
        kv: int | str = kk if kk in ("auto", "heuristic") else int(kk or k)
        configs.append(Config(f"workbench {name} K={kv}", "lookup", {"drafter": name, "draft_max": kv, "temperature": 0.0},
                              peer=f"llama-lookup K={k}"))
    configs += [
        Config(f"llama-lookup K={k}", "lookup", tool="llama-lookup", args=["--spec-draft-n-max", str(k)],
               twin=f"workbench ngram-cache K={k}"),
        Config("llama-lookup K=0 (plain)", "lookup", tool="llama-lookup", args=["--spec-draft-n-max", "0"],
               twin="workbench plain"),
    ]
    return configs


def speculative_configs(ks: list[int], draft_path: Path, has_plain: bool) -> list[Config]:
    configs = [] if has_plain else [Config("workbench plain", "speculative", {"drafter": "none", "temperature": 0.0})]
    for k in ks:
        configs.append(Config(f"workbench draft K={k}", "speculative",
                              {"drafter": "draft", "draft_max": k, "p_min": 0.0, "draft_min": 0, "temperature": 0.0},
                              peer=f"llama-speculative-simple K={k}"))
    configs.append(Config("workbench draft K=auto", "speculative",
                          {"drafter": "draft", "draft_max": "auto", "p_min": 0.0, "draft_min": 0, "temperature": 0.0},
                          peer=f"llama-speculative-simple K={ks[0]}"))
    for k in ks:
        configs.append(Config(f"llama-speculative-simple K={k}", "speculative", tool="llama-speculative-simple",
                              args=["-md", str(draft_path), "--spec-type", "draft-simple", "--spec-draft-n-max", str(k),
                                    "--spec-draft-n-min", "0", "--spec-draft-p-min", "0"],
                              twin=f"workbench draft K={k}"))
    return configs


def fmt_range(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):.1f}-{max(values):.1f})"


def ratio(config: Config, other: Config | None) -> str:
    if other is None or other is config or not other.runs:
        return "-"
    per_round = [a.rate / b.rate for a, b in zip(config.runs, other.runs, strict=False) if b.rate > 0]
    return f"{statistics.median(per_round):.2f}x" if per_round else "-"


def print_case(case: Case, rounds: int, n_predict: int) -> None:
    by_label = {c.label: c for c in case.configs}
    plain = by_label.get("workbench plain")
    print()
    print(f"== {case.form.upper()} prompt ({len(case.ids)} tokens), target {case.target}: {n_predict} tokens, "
          f"median (min-max) of {rounds} rounds ==")
    for check in case.checks:
        print(f"   {check}")
    header = f"{'configuration':34s} {'tok/s':>22s} {'accept':>7s} {'vs wb plain':>11s} {'vs llama peer':>13s}  output vs wb plain"
    print(header)
    print("-" * len(header))
    group = None
    for c in case.configs:
        if not c.runs:
            continue
        if c.group != group and group is not None:
            print()
        group = c.group
        drafted = sum(r.drafted for r in c.runs)
        accepted = sum(r.accepted for r in c.runs)
        acc = f"{100 * accepted / drafted:5.1f}%" if drafted else "-"
        outputs = list(dict.fromkeys(r.output for r in c.runs))
        peer = by_label.get(c.peer) if c.peer else None
        print(f"{c.label:34s} {fmt_range([r.rate for r in c.runs]):>22s} {acc:>7s} {ratio(c, plain):>11s} "
              f"{ratio(c, peer):>13s}  {'; '.join(outputs)}")
    model = case.engine.target  # type: ignore[attr-defined]
    for c in case.configs:
        twin = by_label.get(c.twin) if c.twin else None
        if not c.runs or twin is None or not twin.runs:
            continue
        verdicts = [compare_text(model, w.ids, t.text, n_predict)  # type: ignore[arg-type]
                    for t, w in zip(c.runs, twin.runs, strict=False) if t.text is not None and w.ids is not None]
        counts = ", ".join(f"{n}/{len(verdicts)} rounds {v}" for v, n in Counter(verdicts).items())
        print(f"   output of {c.label} vs {twin.label} (same round): {counts}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("-n", "--n-predict", type=int, default=192, help="tokens per run (default 192)")
    p.add_argument("--forms", default="raw,chat", help="prompt forms: raw, chat (default both)")
    p.add_argument("--targets", default="Q4_1,F16", help="target quantisations of the embedded model (default Q4_1,F16)")
    p.add_argument("--draft", default="Q4_1", help="draft model quantisation for the speculative group (default Q4_1)")
    p.add_argument("--only", choices=("lookup", "speculative"), help="run one group only")
    p.add_argument("-t", "--threads", type=int, default=2)
    p.add_argument("--lookup-k", type=int, default=8, help="K of llama-lookup and the fixed-K workbench n-gram runs")
    p.add_argument("--draft-k", default="8,3", help="K values of the draft-model runs (default 8,3: llama.cpp's default n_max is 3)")
    p.add_argument("--extra", default="", help="more workbench n-gram configurations, drafter:K,... (e.g. suffix:8)")
    p.add_argument("-c", "--ctx", type=int, default=4096)
    p.add_argument("-b", "--batch", type=int, default=512, help="-b/-ub of the tools and the engine's n_batch")
    p.add_argument("--flash-attn", choices=("on", "off"), default="off",
                   help="flash attention on both sides (default off: llama-cpp-python's default)")
    p.add_argument("--build-only", action="store_true", help="build the tools (if missing) and stop")
    args = p.parse_args()

    paths = ensure_tools()
    print("llama.cpp tools:", ", ".join(str(v) for v in paths.values()))
    if args.build_only:
        return

    from workbench import suites
    from workbench.defaults import resolve_model
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    def ref(quant: str) -> Path:
        return resolve_model("embedded" if quant == "Q4_1" else f"embedded:{quant}")

    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    draft_ks = [int(k) for k in args.draft_k.split(",") if k.strip()]
    extra = [e.strip() for e in args.extra.split(",") if e.strip()]
    question = suites.spec_bench(suites.shipped_spec_bench(), "summarization", 1)[0]
    options = LoadOptions(n_ctx=args.ctx, n_threads=args.threads, n_batch=args.batch,
                          flash_attn=args.flash_attn == "on")
    draft_path = ref(args.draft)

    scratch = Path(tempfile.mkdtemp(prefix="workbench-peers-"))
    engines = {}
    cases: list[Case] = []
    for target in targets:
        target_path = ref(target)
        speculative = args.only != "lookup" and target != args.draft
        engines[target] = Engine.load(target_path, draft_path if speculative else None, options)
        engine = engines[target]
        for form in forms:
            text = question if form == "raw" else engine.target.chat_prompt(question)
            # common_tokenize(ctx, prompt, add_special=true, parse_special=true), as both tools do
            ids = engine.target.tokenize(text, add_bos=True, special=True)
            prompt_file = scratch / f"prompt-{form}-{target}.txt"
            prompt_file.write_bytes(text.encode("utf-8") + b"\n")  # -f drops the file's last newline
            configs = lookup_configs(args.lookup_k, extra) if args.only != "speculative" else []
            if speculative:
                configs += speculative_configs(draft_ks, draft_path, has_plain=bool(configs))
            if configs:
                cases.append(Case(form, target, engine, ids, prompt_file,
                                  b"".join(piece(engine.target, t) for t in ids), configs))
        warm = cases[-1].ids if cases and cases[-1].engine is engine else engine.tokens(question)
        engine.generate(warm, 8, drafter="none")  # warm-up: page the weights in
        if speculative:
            engine.generate(warm, 8, drafter="draft")
    if not cases:
        raise SystemExit("nothing to run: the speculative group needs a target other than the draft")

    print(f"models: {', '.join(f'{t}={ref(t)}' for t in targets)}; draft {args.draft}={draft_path}")
    print(f"prompt: Spec-Bench summarization question 0 ({len(question)} characters); forms {', '.join(forms)}; "
          f"{args.n_predict} tokens; threads {args.threads}; ctx {args.ctx}; batch {args.batch}; "
          f"flash attention {args.flash_attn}; {args.rounds} rounds")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min; {os.cpu_count()} cores): "
          "other work on the machine skews absolute rates, and ratios less", flush=True)
    shown: set[str] = set()
    start = time.perf_counter()
    for r in range(args.rounds):
        for case in cases:
            # workbench plain first in round 0 (it is every output's reference), then rotated per round
            order = case.configs
            if r > 0:
                shift = r % len(order)
                order = order[shift:] + order[:shift]
            for config in order:
                if config.is_llama:
                    run = run_llama(paths, case, config, args.n_predict, args, scratch, shown)
                else:
                    run = run_workbench(case, config, args.n_predict)
                config.runs.append(run)
                print(f"  round {r + 1}/{args.rounds} {case.form:4s} {case.target:5s} {config.label:34s} "
                      f"{run.rate:7.1f} tok/s  {run.tokens} tokens  {run.accepted}/{run.drafted} accepted  {run.output}",
                      flush=True)
    print(f"\nmeasured in {time.perf_counter() - start:.0f} s; load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for case in cases:
        print_case(case, args.rounds, args.n_predict)
    print("\ntok/s: decode rate after prompt processing (workbench: Stats.tokens_per_second; the tools: their "
          "'decoded N tokens in T s' line, N >= n+1). accept: accepted/drafted over all rounds. vs ...: median of "
          "per-round ratios. output: tokens vs workbench plain decoding's in round 1 (the tools: printed text vs its "
          "pieces); below each table, each tool's text vs the workbench configuration meant to match it.")
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
