"""`workbench run --headless`: one generation printed for a terminal or a script.

On a terminal the text streams coloured by source and fate (rejected drafts struck through where they
were proposed); into a pipe or file it is the plain generated text. The stats summary goes to stderr,
so stdout holds only the text, as with llama.cpp's tools.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .args import engine_from_args, n_predict_from_args, read_prompt, settings_from_args
from .engine.errors import WorkbenchError
from .engine.events import DoneEvent, Event, NoticeEvent, TokenEvent
from .engine.gate import PAUSED
from .engine.transcript import Transcript
from .signals import Interrupted, exit_code, ignore_signals, interrupt_on_signals

if TYPE_CHECKING:
    from .engine.session import Engine


class TokenPrinter:
    def __init__(self, out: TextIO, colour: bool) -> None:
        self.out = out
        self.console = None
        if colour:
            from rich.console import Console

            from .palette import theme_tokens

            self.console = Console(file=out, highlight=False, soft_wrap=True)
            # the app's default hues, and the terminal's own foreground for the target's tokens
            self.colours = {**theme_tokens(), "target": "default"}

    def show(self, event: Event) -> None:
        # Rejected drafts are not printed: the output reads as the text it is (the app shows them on F7,
        # the recording and --json keep them); colour still says where each token came from.
        if not isinstance(event, TokenEvent) or not event.piece or not event.emitted:
            return
        if self.console is not None:
            from .palette import style

            self.console.print(event.piece, style=style(event.source, event.fate, self.colours), end="", markup=False)
        else:
            self.out.write(event.piece)

    def end(self) -> None:
        self.out.write("\n")
        self.out.flush()


def model_paths(engine: Engine) -> dict[str, str | None]:
    return {"target": str(engine.target.info.path), "draft": str(engine.draft.info.path) if engine.draft else None}


def summary(t: Transcript) -> str:
    s = t.stats
    no_draft = s.n_steps - s.n_drafted_steps
    return (
        f"drafted {s.n_drafted}  accepted {s.n_accepted}  acceptance {100 * s.acceptance:.1f}%  "
        f"mean accepted length {s.mean_accepted_length:.2f}  tokens/s {s.tokens_per_second:.1f}\n"
        f"generated {s.n_emitted} tokens in {s.n_steps} steps ({no_draft} without a draft)  "
        f"draft {s.draft_seconds:.2f} s  verify {s.verify_seconds:.2f} s  "
        f"prompt {s.prompt_tokens} tokens in {s.prompt_seconds:.2f} s"
    ) + "".join(f"\n{line}" for line in [*(s.drafter_lines() if len(s.drafters) > 1 else []), *s.extra_lines(),
                                          *(n for n in t.notices if n.startswith(PAUSED))])


def run(args: argparse.Namespace) -> int:
    with interrupt_on_signals():
        return _run(args)


def _say(text: str, out: TextIO = sys.stderr) -> None:
    """Print, unless the terminal is gone (a hangup): the JSON and the recording still get written."""
    try:
        print(text, file=out, flush=True)
    except OSError:
        pass


def _run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args)
    settings = settings_from_args(args)
    n_predict = n_predict_from_args(args)
    engine = engine_from_args(args, settings.snapshot().drafter)
    for warning in engine.warnings:
        _say(f"workbench: warning: {warning}")
    try:
        engine.check_experts(settings.snapshot().experts)
        engine.check_experts(settings.snapshot().draft_experts, draft=True)
    except WorkbenchError:
        engine.close()
        raise
    transcript = Transcript()
    printer = TokenPrinter(sys.stdout, colour=sys.stdout.isatty())
    recorder = None
    code = 0
    try:
        session = engine.session(engine.target.chat_prompt(prompt) if args.chat else prompt, settings)
        if args.record:
            from .engine.record import Recorder

            recorder = Recorder(args.record, {"prompt": prompt, "models": model_paths(engine),
                                              "settings": asdict(settings.snapshot())})
        try:
            for event in session.run(n_predict):
                if recorder:
                    recorder.add(event)
                transcript.add(event)
                printer.show(event)
                if isinstance(event, NoticeEvent):
                    _say(f"workbench: {event.message}")
        except KeyboardInterrupt as e:  # ctrl+c, or Interrupted by SIGHUP / SIGTERM
            ignore_signals()  # a second signal must not cut the saving short
            code = e.code if isinstance(e, Interrupted) else exit_code(signal.SIGINT)
            done = DoneEvent("stopped", f"interrupted ({e})" if isinstance(e, Interrupted) else "interrupted")
            transcript.add(done)
            if recorder:
                recorder.add(done)
        try:
            printer.end()
        except OSError:
            pass
        if transcript.done and transcript.done.reason == "context_full":
            _say(f"workbench: {transcript.done.message}")
        _say(summary(transcript))
        if args.json:
            data = transcript.to_json()
            paths = model_paths(engine)
            data["settings"] = {"model": paths["target"], "draft_model": paths["draft"], **asdict(settings.snapshot())}
            try:
                Path(args.json).write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
            except OSError as e:
                raise WorkbenchError(f"cannot write {args.json}: {e.strerror}") from None
    finally:
        if recorder:
            recorder.close()
        engine.close()
    return code
