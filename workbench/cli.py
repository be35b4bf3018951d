"""The `workbench` command: parses arguments and dispatches to the command's `func`.

Each command's module is imported only when it runs (llama_cpp, numpy and Textual are heavy), so
`--help` answers at once. Every foreseeable failure is a WorkbenchError, printed as one line on stderr
with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from .args import (
    Parser,
    add_app_args,
    add_cache_args,
    add_generation_args,
    add_load_args,
    add_model_args,
    add_prompt_args,
    add_setting_flags,
)
from .engine.settings import DRAFTERS

__all__ = ["DRAFTERS", "build_parser", "main"]


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command's func that imports its module only when the command runs."""
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module, __package__), name)(args)
    return run


_app = _lazy(".launch", "open_app")
_headless = _lazy(".headless", "run")


def _run(args: argparse.Namespace) -> int:
    return _headless(args) if args.headless else _app(args)


_bench_grid = _lazy(".bench", "bench")
_bench_against = _lazy(".deploy.against", "bench_against")


def _bench(args: argparse.Namespace) -> int:
    """bench: the grid in the engine, or with --against URL the suite against a running server."""
    return _bench_against(args) if args.against else _bench_grid(args)


def _add_suite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--n-predict", type=int, default=128, metavar="N", help="tokens per prompt (default 128)")
    add_prompt_args(p, file_help="prompts: .jsonl, or text with blank lines between")
    p.add_argument("--suite", default="grounded",
                   help="grounded, code-edit, agentic, chat, or spec-bench:<category>[:N] (default grounded)")
    p.add_argument("--spec-bench", metavar="question.jsonl", default=None,
                   help="Spec-Bench question file for spec-bench:<category> suites (default: the copy shipped inside "
                        "the package)")
    p.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")


def _add_setting_flags(p: argparse.ArgumentParser, title: str = "speculation and sampling") -> None:
    """The settings table's flags without -n, and the lookup caches (export, deploy-check, serve)."""
    g = p.add_argument_group(title)
    add_setting_flags(g)
    add_cache_args(g)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = Parser(prog="workbench", description="See and tune speculative decoding on local GGUF models. "
                    "Without a command, opens the app.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    add_model_args(parser)
    add_generation_args(parser)
    add_app_args(parser)
    parser.set_defaults(func=_app)
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    run = sub.add_parser("run", help="generate once (in the app, or printed with --headless)",
                         description="Generate once: in the app, or printed with its stats with --headless.")
    run.add_argument("--headless", action="store_true", help="print to the terminal instead of opening the app")
    run.add_argument("--json", metavar="OUT.json", help="also write text, tokens and stats as JSON")
    add_model_args(run)
    add_generation_args(run)
    add_app_args(run)
    run.set_defaults(func=_run)

    bench = sub.add_parser("bench", help="a grid of configurations against plain decoding, side by side",
                           description="Run a grid of drafters, K, temperatures, n-gram sizes and expert counts on "
                                       "a prompt suite, with plain decoding as the baseline in the same run; print a "
                                       "table and a chart of tokens/s against K.")
    add_model_args(bench)
    bench.add_argument("--drafters", default="none,draft,lookup,suffix,cascade,ngram-cache,chain",
                       help="comma-separated drafters; a chain as a+b (default: none, draft, lookup, suffix, cascade, "
                            "ngram-cache, chain)")
    bench.add_argument("--k", default="2,4,8,16", help="comma-separated K values; 'auto' and 'heuristic' too")
    bench.add_argument("--temps", default="0", help="comma-separated temperatures (default 0)")
    bench.add_argument("--ngram", dest="ngram_list", default="3", help="comma-separated n-gram sizes for lookup")
    bench.add_argument("--experts", dest="experts_list", default="0", help="comma-separated MoE expert counts")
    bench.add_argument("--draft-experts", dest="draft_experts_list", default="0",
                       help="comma-separated expert counts for an MoE draft model (-md embedded:moe --draft-experts 2,3: "
                            "the MoE target drafting for itself through fewer experts)")
    bench.add_argument("--verify", dest="verify_list", default="batch",
                       help="comma-separated verification modes: batch, sequential (batch-invariant; its cost "
                            "shows beside batch)")
    bench.add_argument("--repeat", type=int, default=2, metavar="R", help="interleaved repetitions (default 2)")
    bench.add_argument("--csv", metavar="OUT.csv", help="also write the results as CSV")
    bench.add_argument("--against", metavar="URL", help="run the suite against a running OpenAI-compatible server "
                                                        "(llama-server, workbench serve, ...) instead of the grid")
    _add_suite_args(bench)
    bench.set_defaults(func=_bench)

    tune = sub.add_parser("tune", help="find the fastest configuration cheaply and save it as a preset",
                          description="Successive halving over drafters, n-gram sizes and temperatures with adaptive K "
                                      "on a prompt suite, then the two best, the leader at the fixed K it settled on "
                                      "and plain decoding head to head; saves the winner as a preset.")
    add_model_args(tune)
    tune.add_argument("--drafters", default=",".join(d for d in DRAFTERS if d != "none"), help="comma-separated drafters")
    tune.add_argument("--temps", default="0", help="temperatures the user allows (default 0)")
    tune.add_argument("--ngram", dest="ngram_list", default="2,3,4", help="n-gram sizes to try for lookup")
    tune.add_argument("--save", metavar="NAME", help="preset name (default tuned-<model>)")
    _add_suite_args(tune)
    tune.set_defaults(func=_lazy(".bench", "tune_command"))

    check = sub.add_parser("deploy-check", help="run the exported configuration in a real llama-server beside the "
                                                "workbench, on the same requests",
                           description="For each configuration (the settings given, a preset's, or a grid as bench's) "
                                       "and plain decoding: start llama-server with the command `workbench export` "
                                       "writes, send the suite through its OpenAI API, and run the same requests in "
                                       "the workbench's engine, rounds interleaved; one table of both tools' tok/s, "
                                       "speedup over their own plain decoding, acceptance and output.")
    check.add_argument("--preset", metavar="NAME", help="a preset's models and settings (flags given here override)")
    add_model_args(check)
    check.set_defaults(flash_attn="off")  # both tools alike: llama-cpp-python's default (llama.cpp would pick auto)
    _add_setting_flags(check)
    check.add_argument("--drafters", help="a grid as bench's: comma-separated drafters, a chain as a+b (default: the "
                                          "settings' drafter alone)")
    check.add_argument("--k", help="comma-separated K values for the grid (default: the settings' K)")
    check.add_argument("--repeat", type=int, default=3, metavar="R", help="interleaved rounds (default 3)")
    check.add_argument("--llama-server", metavar="PATH", help="the llama-server to run (default: built once from "
                                                              "the llama-cpp-python sdist into the user cache dir)")
    check.add_argument("--against", metavar="URL", help="also send the suite to this running OpenAI-compatible "
                                                        "server, as one more row")
    check.add_argument("--cold", action="store_true", help="start every request fresh on both sides (a new "
                                                           "llama-server per request), not every round")
    _add_suite_args(check)
    check.set_defaults(func=_lazy(".deploy.check", "deploy_check"))

    demo = sub.add_parser("demo", help="open the app on the embedded models and start generating",
                          description="Open the app on SmolLM2-135M (F16 target, its Q4_1 as the draft) with the "
                                      "cascade drafter, generating on a built-in grounded prompt.")
    add_app_args(demo)
    demo.add_argument("-n", "--n-predict", type=int, default=400, metavar="N")
    demo.add_argument("--moe", action="store_true", help="the embedded model made a Mixture-of-Experts as the target "
                                                         "(embedded:moe): turn its experts down in the sidebar")
    demo.set_defaults(func=_lazy(".launch", "open_demo"))

    results = sub.add_parser("results", help="show a bench or tune results file in the app",
                             description="Open the app on a results file written by bench --json or tune --json.")
    results.add_argument("results_file", metavar="RESULTS.json")
    add_app_args(results)
    results.set_defaults(func=_lazy(".launch", "open_results"))

    replay = sub.add_parser("replay", help="play a recorded session back in the app (no model needed)",
                            description="Play a recording (--record) back in the app: same colours, plots and "
                                        "stats. Space pauses, n steps one verify step, + and - change the speed.")
    replay.add_argument("recording", metavar="FILE.jsonl")
    replay.add_argument("--speed", type=float, default=1.0, metavar="X", help="playback speed (default 1.0)")
    add_app_args(replay)
    replay.set_defaults(func=_lazy(".launch", "open_replay"))

    serve = sub.add_parser("serve", help="an OpenAI-compatible server whose requests run through the workbench",
                           description="Answer the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models, "
                                       "/health, /metrics) with the workbench's speculation: one generation at a "
                                       "time, a bounded queue, per-request speculation stats. --tui shows the "
                                       "traffic live in the app.")
    add_model_args(serve)
    _add_setting_flags(serve, "speculation and sampling (a request's temperature, top_p, top_k and seed win)")
    add_app_args(serve)
    g = serve.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    g.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    g.add_argument("--queue", type=int, default=8, metavar="N",
                   help="requests that may wait for the one slot; more are refused with 503 (default 8)")
    g.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="longest a request may take, waiting included; then it ends (default: no limit)")
    g.add_argument("--api-key", metavar="KEY", help="require 'Authorization: Bearer KEY' on every endpoint but "
                                                    "/health (default: $WORKBENCH_API_KEY, else none)")
    g.add_argument("--log", metavar="TRAFFIC.jsonl", help="append one line per request (replay it with bench/tune -f)")
    g.add_argument("--tui", action="store_true", help="show the traffic in the app while serving")
    serve.set_defaults(func=_lazy(".serve.command", "serve"))

    experts = sub.add_parser("experts", help="MoE: perplexity, agreement and speed per expert count",
                             description="For each expert count: perplexity on a reference text, greedy agreement "
                                         "with the model's own count, and tokens/s, in one table.")
    experts.add_argument("-m", "--model", required=True, metavar="MOE.gguf")
    experts.add_argument("--counts", default="", metavar="8,6,4,3,2",
                         help="expert counts to compare (default: every count from the model's own down to 1)")
    experts.add_argument("-f", "--file", metavar="REFERENCE.txt", help="reference text (default: a built-in paragraph)")
    experts.add_argument("--against", metavar="MODEL", help="greedy agreement with this model (same vocabulary) "
                                                           "instead of the MoE model at its own count")
    experts.add_argument("--max-tokens", type=int, default=512, metavar="N", help="reference tokens scored (default 512)")
    experts.add_argument("-n", "--n-predict", type=int, default=64, metavar="N", help="tokens generated for tokens/s")
    add_load_args(experts)
    experts.add_argument("--json", metavar="OUT.json")
    experts.set_defaults(func=_lazy(".experts", "experts_command"))

    create = sub.add_parser("lookup-create", help="build a static n-gram cache from a corpus (llama-lookup-create)",
                            description="Count the 2-grams of a corpus, tokenised by the target model, into a static "
                                        "cache for the ngram-cache drafter (-lcs), in llama.cpp's file format.")
    create.add_argument("-m", "--model", metavar="TARGET.gguf", help="the model whose tokenizer to use (default: "
                                                                   "the embedded SmolLM2-135M)")
    create.add_argument("-f", "--file", required=True, metavar="CORPUS.txt", help="the corpus")
    create.add_argument("-o", "-lcs", "--lookup-cache-static", dest="output", required=True, metavar="CACHE",
                        help="the cache file to write")
    create.set_defaults(func=_lazy(".lookup_cache", "lookup_create"))

    export = sub.add_parser("export", help="print the llama.cpp command line (llama-server) for a configuration",
                            description="Print the llama-server (or llama-cli) command for the models, load options "
                                        "and speculation settings given (or a preset's), with a # comment for each "
                                        "setting llama.cpp has no flag for. Reads GGUF headers only, never weights.")
    # not --to: the top-level parser would take it for an abbreviation of --top-k/--top-p and refuse it
    export.add_argument("--tool", dest="to", choices=("llama-server", "llama-cli"), default="llama-server",
                        help="the llama.cpp tool to run (default llama-server)")
    export.add_argument("--preset", metavar="NAME", help="export a preset (name or .toml path); flags given here "
                                                         "override its models and settings")
    add_model_args(export)
    _add_setting_flags(export)
    export.set_defaults(func=_lazy(".export", "export_command"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .crash import arm
    from .engine.errors import WorkbenchError

    arm()  # a fatal signal's tracebacks go to a crash log (crash.py)

    args.chat = not getattr(args, "raw", False)
    try:
        return args.func(args)
    except WorkbenchError as e:
        print(f"workbench: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # ctrl+c, or a SIGHUP / SIGTERM turned into Interrupted (signals.py)
        return getattr(e, "code", 130)
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 (unforeseen: one line for the user, the traceback in a file)
        from .crash import crash_line

        print(crash_line(e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
