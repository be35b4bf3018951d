"""Opening the app: the live workbench (`workbench`, `workbench run`), the demo, a results file, a replay.

Each sets the colour system before Textual is imported (Textual reads it on import), then builds the
app's main screen from the parsed arguments (workbench/args.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from .args import load_options_from_args, n_predict_from_args, read_prompt, settings_from_args
from .engine.errors import WorkbenchError

if TYPE_CHECKING:
    from .app.app import WorkbenchApp
    from .serve.command import Server


def set_colors(args: argparse.Namespace) -> None:
    """--colors, as the environment variable Textual reads when it is imported: call before importing it."""
    if args.colors != "auto":
        os.environ["TEXTUAL_COLOR_SYSTEM"] = args.colors


def run(app: WorkbenchApp) -> int:
    """Run the app; its exit code, which Textual sets non-zero when an unhandled error ended it.

    When the user quit while a model was loading, the load goes on inside llama.cpp and Python would wait
    for its thread at exit (seconds to minutes for a big model): everything is saved by then, so leave at once."""
    from .crash import app_has_terminal, goodbye

    app_has_terminal()
    app.run()
    code = app.return_code or 0
    if app.main.abandoned_work:
        sys.stdout.flush()
        sys.stderr.flush()
        goodbye()
        os._exit(code)
    return code


def start_notes() -> list[str]:
    """What the app says at start about the user's files: runs recovered from journals of processes that died,
    a fatal signal's log, preset and theme files skipped (each names its file)."""
    from . import presets
    from .app.themes import theme_problems
    from .crash import fatal_reports
    from .journal import recover

    return [*fatal_reports(), *recover(), *presets.problems(), *theme_problems()]


def open_app(args: argparse.Namespace) -> int:
    set_colors(args)
    if args.preset:
        from .presets import load

        load(args.preset)  # a missing or damaged preset: one line now, not an app that opens without it
    settings = settings_from_args(args).snapshot()
    prompt = read_prompt(args) if args.prompt is not None or args.file is not None else ""
    n_predict = n_predict_from_args(args)
    from .app.app import WorkbenchApp
    from .app.screens.live import LiveScreen, Opening
    from .defaults import app_threads

    target = args.model
    if target is None and args.preset is None:
        from .defaults import default_model

        try:
            default_model()
            target = "embedded"
        except WorkbenchError:  # no embedded model: the app opens empty and says how to load one
            target = None
    screen = LiveScreen(settings, prompt=prompt, n_predict=n_predict, chat=args.chat,
                        opening=Opening(target, args.draft or "", args.preset, autostart=bool(prompt),
                                        loop=getattr(args, "loop", ())),
                        load_options=load_options_from_args(args, threads=app_threads()), record=args.record)
    return run(WorkbenchApp(screen, theme=args.theme, notes=start_notes()))


def open_demo(args: argparse.Namespace) -> int:
    """A pair made from the embedded model, a drafter chain and a grounded prompt: colours from the first second
    (demo.py says why this pair)."""
    from .demo import DEMO_DRAFT, DEMO_DRAFTER, DEMO_K, DEMO_MOE_DRAFT, DEMO_MOE_TARGET, DEMO_PROMPTS, DEMO_TARGET

    pair = (DEMO_MOE_TARGET, DEMO_MOE_DRAFT) if getattr(args, "moe", False) else (DEMO_TARGET, DEMO_DRAFT)
    (args.model, args.draft), args.drafter = pair, DEMO_DRAFTER
    args.prompt, args.file, args.chat, args.loop = DEMO_PROMPTS[0], None, True, DEMO_PROMPTS
    for name, value in (("ctx_size", 0), ("batch_size", 512), ("threads", None), ("draft_max", DEMO_K),
                        ("record", None)):
        setattr(args, name, value)
    return open_app(args)


def open_results(args: argparse.Namespace) -> int:
    from pathlib import Path

    set_colors(args)
    from .app.results import load_results

    data = load_results(args.results_file)
    from .app.app import WorkbenchApp
    from .app.results import ResultsScreen
    from .app.screens.live import LiveScreen

    return run(WorkbenchApp(LiveScreen(), theme=args.theme, over=ResultsScreen(data, Path(args.results_file).name)))


def open_replay(args: argparse.Namespace) -> int:
    from .app.replay_clock import MAX_SPEED, MIN_SPEED
    from .engine.record import load

    set_colors(args)
    if not MIN_SPEED <= args.speed <= MAX_SPEED:
        raise WorkbenchError(f"--speed must be from {MIN_SPEED} to {MAX_SPEED:g}, not {args.speed}")
    recording = load(args.recording, partial=True)  # a damaged or cut line: replay what comes before it
    if recording.problem:
        print(f"workbench: warning: {args.recording}: {recording.problem}", file=sys.stderr)
    from .app.app import WorkbenchApp
    from .app.screens.replay import ReplayScreen

    screen = ReplayScreen(recording.header, recording.events, args.speed, args.recording, problem=recording.problem)
    return run(WorkbenchApp(screen, theme=args.theme))


def open_server(args: argparse.Namespace, server: Server, address: str) -> int:
    """`workbench serve --tui`: the app shows the traffic the server (already listening) receives."""
    set_colors(args)
    from .app.app import WorkbenchApp
    from .app.screens.serve import ServeScreen
    from .suites import BUILTIN

    prompt = server.slot.engine.target.chat_prompt(BUILTIN["grounded"][0])  # plain decoding's first measurement
    app = WorkbenchApp(ServeScreen(server, prompt, address), theme=args.theme)
    return run(app)
