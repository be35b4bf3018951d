"""The `workbench` command: parses arguments and dispatches. Flag names follow llama.cpp where it has them.

Heavy imports (llama_cpp, numpy, Textual) happen inside the commands, so `--help` answers at once.
Every foreseeable failure is a WorkbenchError, printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine.session import Engine
    from .engine.settings import LiveSettings

DRAFTERS = ("none", "draft", "lookup", "suffix", "cascade")  # kept equal to engine.settings.DRAFTERS (tested)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(2, f"workbench: error: {message} (see --help)\n")


AUTO_K_CEILING = 32  # the largest K adaptive choice considers


def draft_max_arg(text: str) -> int | str:
    if text in ("auto", "heuristic"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"K must be a whole number, 'auto' or 'heuristic', not {text!r}") from None


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models")
    g.add_argument("-m", "--model", metavar="TARGET.gguf", help="target model (default: the embedded SmolLM2-135M)")
    g.add_argument("-md", "--model-draft", metavar="DRAFT.gguf", dest="draft", help="draft model for the draft drafter")
    g.add_argument("-c", "--ctx-size", type=int, default=0, metavar="N",
                   help="context size in tokens (default 0: the model's own, at most 4096)")
    g.add_argument("-t", "--threads", type=int, default=None, metavar="N", help="threads (default: physical cores)")
    g.add_argument("-b", "--batch-size", type=int, default=512, metavar="N", help="prompt batch size (default 512)")


def add_generation_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speculation and sampling")
    g.add_argument("--drafter", choices=DRAFTERS, default=None,
                   help="where drafts come from (default: draft with -md, else lookup)")
    g.add_argument("--draft-max", type=draft_max_arg, default=8, metavar="K",
                   help="most tokens drafted per step (default 8); 'auto' picks K each step for the most tokens/s, "
                        "'heuristic' is Hugging Face's +2/-1 schedule")
    g.add_argument("--ngram", type=int, default=3, metavar="N", help="prompt lookup: longest n-gram to match (default 3)")
    g.add_argument("--p-min", type=float, default=0.0, metavar="P",
                   help="draft model: stop drafting below this top probability (default 0)")
    g.add_argument("--temp", type=float, default=0.0, metavar="T", help="temperature; 0 is greedy (default 0)")
    g.add_argument("--top-k", type=int, default=40, metavar="N", help="top-k, 0 disables (default 40)")
    g.add_argument("--top-p", type=float, default=0.95, metavar="P", help="top-p, 1 disables (default 0.95)")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed (default 0)")
    g.add_argument("--experts", type=int, default=0, metavar="N",
                   help="MoE target: experts used per token (default 0: the model's own count)")
    g.add_argument("--draft-experts", type=int, default=0, metavar="N", help="MoE draft: experts used per token")
    g.add_argument("-n", "--n-predict", type=int, default=256, metavar="N", help="tokens to generate (default 256)")
    g.add_argument("-p", "--prompt", metavar="TEXT", help="the prompt")
    g.add_argument("-f", "--file", metavar="PROMPT_FILE", help="read the prompt from a file")
    g.add_argument("--raw", action="store_true", help="plain completion: don't apply the model's chat template")
    g.add_argument("--record", metavar="FILE.jsonl", help="record the session's events for `workbench replay`")


def add_app_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("app")
    g.add_argument("--preset", metavar="NAME", help="load a preset (name or .toml path)")
    g.add_argument("--theme", metavar="NAME", help="workbench-dark, workbench-light, workbench-colorblind, workbench-256, "
                                                   "or any Textual theme")
    g.add_argument("--colors", choices=("auto", "256", "truecolor"), default="auto",
                   help="colour system; over ssh COLORTERM is often lost: try 256 or truecolor")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="workbench", description="See and tune speculative decoding on local GGUF models. "
                     "Without a command, opens the app.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    add_model_args(parser)
    add_generation_args(parser)
    add_app_args(parser)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser("run", help="generate once (in the app, or printed with --headless)",
                         description="Generate once: in the app, or printed with its stats with --headless.")
    run.add_argument("--headless", action="store_true", help="print to the terminal instead of opening the app")
    run.add_argument("--json", metavar="OUT.json", help="also write text, tokens and stats as JSON")
    add_model_args(run)
    add_generation_args(run)
    add_app_args(run)
    bench = sub.add_parser("bench", help="a grid of configurations against plain decoding, side by side",
                           description="Run a grid of drafters, K, temperatures, n-gram sizes and expert counts on "
                                       "a prompt suite, with plain decoding as the baseline in the same run; print a "
                                       "table and a chart of tokens/s against K.")
    add_model_args(bench)
    bench.add_argument("--drafters", default="none,draft,lookup,suffix,cascade", help="comma-separated drafters")
    bench.add_argument("--k", default="2,4,8,16", help="comma-separated K values; 'auto' and 'heuristic' too")
    bench.add_argument("--temps", default="0", help="comma-separated temperatures (default 0)")
    bench.add_argument("--ngram", dest="ngram_list", default="3", help="comma-separated n-gram sizes for lookup")
    bench.add_argument("--experts", dest="experts_list", default="0", help="comma-separated MoE expert counts")
    bench.add_argument("--repeat", type=int, default=2, metavar="R", help="interleaved repetitions (default 2)")
    bench.add_argument("--csv", metavar="OUT.csv", help="also write the results as CSV")
    tune = sub.add_parser("tune", help="find the fastest configuration cheaply and save it as a preset",
                          description="Successive halving over drafters, n-gram sizes and temperatures with adaptive K "
                                      "on a prompt suite, then the two best, the leader at the fixed K it settled on "
                                      "and plain decoding head to head; saves the winner as a preset.")
    add_model_args(tune)
    tune.add_argument("--drafters", default="draft,lookup,suffix,cascade", help="comma-separated drafters")
    tune.add_argument("--temps", default="0", help="temperatures the user allows (default 0)")
    tune.add_argument("--ngram", dest="ngram_list", default="2,3,4", help="n-gram sizes to try for lookup")
    tune.add_argument("--save", metavar="NAME", help="preset name (default tuned-<model>)")
    for p in (bench, tune):
        p.add_argument("-n", "--n-predict", type=int, default=128, metavar="N", help="tokens per prompt (default 128)")
        p.add_argument("-p", "--prompt", metavar="TEXT", help="one prompt instead of a suite")
        p.add_argument("-f", "--file", metavar="PROMPTS", help="prompts: .jsonl, or text with blank lines between")
        p.add_argument("--suite", default="grounded",
                       help="grounded, code-edit, agentic, chat, or spec-bench:<category>[:N] (default grounded)")
        p.add_argument("--spec-bench", metavar="question.jsonl", default="../shared/bench/spec_bench/question.jsonl",
                       help="Spec-Bench question file for spec-bench:<category> suites")
        p.add_argument("--raw", action="store_true", help="don't apply the model's chat template")
        p.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    demo = sub.add_parser("demo", help="open the app on the embedded models and start generating",
                          description="Open the app on SmolLM2-135M (F16 target, its Q4_1 as the draft) with the "
                                      "cascade drafter, generating on a built-in grounded prompt.")
    add_app_args(demo)
    demo.add_argument("-n", "--n-predict", type=int, default=400, metavar="N")
    results = sub.add_parser("results", help="show a bench or tune results file in the app",
                             description="Open the app on a results file written by bench --json or tune --json.")
    results.add_argument("results_file", metavar="RESULTS.json")
    add_app_args(results)
    replay = sub.add_parser("replay", help="play a recorded session back in the app (no model needed)",
                            description="Play a recording (--record) back in the app: same colours, plots and "
                                        "stats. Space pauses, n steps one verify step, + and - change the speed.")
    replay.add_argument("recording", metavar="FILE.jsonl")
    replay.add_argument("--speed", type=float, default=1.0, metavar="X", help="playback speed (default 1.0)")
    add_app_args(replay)
    experts = sub.add_parser("experts", help="MoE: perplexity, agreement and speed per expert count",
                             description="For each expert count: perplexity on a reference text, greedy agreement "
                                         "with the model's own count, and tokens/s, in one table.")
    experts.add_argument("-m", "--model", required=True, metavar="MOE.gguf")
    experts.add_argument("--counts", default="", metavar="8,6,4,3,2",
                         help="expert counts to compare (default: every count from the model's own down to 1)")
    experts.add_argument("-f", "--file", metavar="REFERENCE.txt", help="reference text (default: a built-in paragraph)")
    experts.add_argument("--max-tokens", type=int, default=512, metavar="N", help="reference tokens scored (default 512)")
    experts.add_argument("-n", "--n-predict", type=int, default=64, metavar="N", help="tokens generated for tokens/s")
    experts.add_argument("-c", "--ctx-size", type=int, default=0, metavar="N")
    experts.add_argument("-t", "--threads", type=int, default=None, metavar="N")
    experts.add_argument("-b", "--batch-size", type=int, default=512, metavar="N")
    experts.add_argument("--json", metavar="OUT.json")
    return parser


def settings_from_args(args: argparse.Namespace) -> LiveSettings:
    from .engine.settings import LiveSettings

    drafter = args.drafter or ("draft" if args.draft else "lookup")
    adaptive = args.draft_max if isinstance(args.draft_max, str) else "off"
    draft_max = AUTO_K_CEILING if isinstance(args.draft_max, str) else args.draft_max
    return LiveSettings(drafter=drafter, draft_max=draft_max, adaptive=adaptive, ngram=args.ngram, p_min=args.p_min,
                        temperature=args.temp, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                        experts=args.experts, draft_experts=args.draft_experts)


def engine_from_args(args: argparse.Namespace, drafter: str = "none") -> Engine:
    from .engine.errors import WorkbenchError
    from .engine.models import LoadOptions
    from .engine.session import Engine

    if drafter == "draft" and not args.draft:
        raise WorkbenchError("--drafter draft needs a draft model: add -md DRAFT.gguf")
    if getattr(args, "n_predict", 1) < 1:
        raise WorkbenchError(f"-n must be at least 1, not {args.n_predict}")
    model = args.model
    if model is None:
        from .defaults import default_model

        model = default_model()
    options = LoadOptions(n_ctx=args.ctx_size, n_batch=args.batch_size,
                          **({"n_threads": args.threads} if args.threads is not None else {}))
    return Engine.load(model, args.draft, options)


def set_colors(args: argparse.Namespace) -> None:
    """--colors, as the environment variable Textual reads when it is imported: call before importing it."""
    import os

    if args.colors != "auto":
        os.environ["TEXTUAL_COLOR_SYSTEM"] = args.colors


def open_app(args: argparse.Namespace) -> int:
    from .engine.models import LoadOptions

    set_colors(args)
    settings = settings_from_args(args).snapshot()
    prompt = ""
    if args.prompt is not None or args.file is not None:
        from .headless import read_prompt

        prompt = read_prompt(args)
    if args.n_predict < 1:
        from .engine.errors import WorkbenchError

        raise WorkbenchError(f"-n must be at least 1, not {args.n_predict}")
    from .app.app import WorkbenchApp, app_threads

    options = LoadOptions(n_ctx=args.ctx_size, n_batch=args.batch_size, n_threads=args.threads or app_threads())
    target = args.model
    if target is None and args.preset is None:
        from .defaults import default_model

        try:
            default_model()
            target = "embedded"
        except Exception:  # no embedded model: the app opens empty and says how to load one
            target = None

    app = WorkbenchApp(target, args.draft, settings, preset=args.preset, theme=args.theme, prompt=prompt,
                       n_predict=args.n_predict, chat=args.chat, autostart=bool(prompt), load_options=options,
                       record=args.record)
    app.run()
    return 0


def open_demo(args: argparse.Namespace) -> int:
    """The embedded pair, the cascade drafter and a grounded prompt: colours from the first second."""
    from .demo import DEMO_PROMPT

    args.model, args.draft, args.drafter = "embedded:F16", "embedded", "cascade"
    args.prompt, args.file, args.chat = DEMO_PROMPT, None, True
    for name, value in (("ctx_size", 0), ("batch_size", 512), ("threads", None), ("draft_max", 6), ("ngram", 3),
                        ("p_min", 0.0), ("temp", 0.0), ("top_k", 40), ("top_p", 0.95), ("seed", 0), ("experts", 0),
                        ("draft_experts", 0), ("record", None)):
        setattr(args, name, value)
    return open_app(args)


def open_results(args: argparse.Namespace) -> int:
    from pathlib import Path

    set_colors(args)
    from .app.results import load_results

    data = load_results(args.results_file)
    from .app.app import WorkbenchApp

    WorkbenchApp(theme=args.theme, results=(data, Path(args.results_file).name)).run()
    return 0


def open_replay(args: argparse.Namespace) -> int:
    from .engine.errors import WorkbenchError
    from .engine.record import load

    set_colors(args)
    if not 0.05 <= args.speed <= 100:
        raise WorkbenchError(f"--speed must be from 0.05 to 100, not {args.speed}")
    header, events = load(args.recording)
    from .app.app import WorkbenchApp

    WorkbenchApp(theme=args.theme, replay=(header, events), replay_speed=args.speed, replay_name=args.recording).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .engine.errors import WorkbenchError

    args.chat = not getattr(args, "raw", False)
    try:
        if args.command is None or (args.command == "run" and not args.headless):
            return open_app(args)
        if args.command == "run":
            from .headless import run

            return run(args)
        if args.command == "demo":
            return open_demo(args)
        if args.command == "replay":
            return open_replay(args)
        if args.command == "results":
            return open_results(args)
        if args.command == "experts":
            from .experts import experts_command

            return experts_command(args)
        if args.command == "bench":
            from .bench import bench

            return bench(args)
        if args.command == "tune":
            from .bench import tune_command

            return tune_command(args)
    except WorkbenchError as e:
        print(f"workbench: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
