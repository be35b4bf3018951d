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
from typing import TYPE_CHECKING, TextIO

from .args import engine_from_args, n_predict_from_args, preset_from_args, read_prompt, settings_from_args
from .engine.errors import WorkbenchError
from .engine.events import DoneEvent, Event, NoticeEvent, StepEvent, TokenEvent
from .engine.gate import PAUSED
from .engine.record import Recorder
from .engine.transcript import Transcript
from .engine.userfiles import Watch, check_writable, write_atomic
from .journal import Journal
from .signals import Interrupted, exit_code, ignore_signals, interrupt_on_signals

if TYPE_CHECKING:
    from .engine.session import Engine


class TokenPrinter:
    def __init__(self, out: TextIO, colour: bool) -> None:
        self.out = out
        self.tty = colour
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

    def step(self) -> None:
        """After each verify step: into a file or a pipe the text so far goes out now (a process killed
        the next moment has written it); a terminal is line-buffered by the console anyway."""
        if not self.tty:
            self.out.flush()

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
    from .journal import recover

    for line in recover():
        _say(f"workbench: {line}")
    preset = preset_from_args(args)
    prompt = read_prompt(args)
    settings = settings_from_args(args, preset)
    n_predict = n_predict_from_args(args)
    if args.json:
        check_writable(args.json, "JSON file")  # now, not after the whole generation
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
    paths = model_paths(engine)
    header = {"prompt": prompt, "models": paths, "settings": asdict(settings.snapshot())}
    outputs: list[Recorder | Journal] = []
    code, kept = 0, True  # kept: every output asked for was written
    try:
        session = engine.session(engine.target.chat_prompt(prompt) if args.chat else prompt, settings)
        if args.record:
            outputs.append(Recorder(args.record, header))
        journal = _journal(header)
        if journal is not None:
            outputs.append(journal)
        watch = Watch([p for p in paths.values() if p])
        try:
            for event in session.run(n_predict):
                _add(outputs, event)
                transcript.add(event)
                printer.show(event)
                if isinstance(event, NoticeEvent):
                    _say(f"workbench: {event.message}")
                elif isinstance(event, StepEvent):
                    printer.step()
                    if change := watch.changed():
                        _stop(transcript, outputs, DoneEvent("error", change))
                        _say(f"workbench: {change}")
                        code = 1
                        break
        except KeyboardInterrupt as e:  # ctrl+c, or Interrupted by SIGHUP / SIGTERM
            ignore_signals()  # a second signal must not cut the saving short
            code = e.code if isinstance(e, Interrupted) else exit_code(signal.SIGINT)
            _stop(transcript, outputs, DoneEvent("stopped", f"interrupted ({e})" if isinstance(e, Interrupted)
                                                 else "interrupted"))
        try:
            printer.end()
        except OSError:
            pass
        if transcript.done and transcript.done.reason == "context_full":
            _say(f"workbench: {transcript.done.message}")
        _say(summary(transcript))
        if args.json:
            data = transcript.to_json()
            data["settings"] = {"model": paths["target"], "draft_model": paths["draft"], **asdict(settings.snapshot())}
            try:
                write_atomic(args.json, json.dumps(data, indent=1, ensure_ascii=False), "JSON file")
            except WorkbenchError as e:
                _say(f"workbench: error: {e}")
                code, kept = code or 1, False
    finally:
        for out in outputs:
            out.close()
        engine.close()
    for out in outputs:
        if isinstance(out, Journal):
            if kept:
                out.discard()  # the run ended here and what was asked for is written: stdout, --json
            else:
                _say(f"workbench: the run is kept in {out.path}")
        elif out.problem:
            code = code or 1
    return code


def _journal(header: dict) -> Journal | None:
    try:
        return Journal(header)
    except (WorkbenchError, OSError) as e:
        _say(f"workbench: warning: no journal for this run ({e})")
        return None


def _add(outputs: list[Recorder | Journal], event: Event) -> None:
    for out in outputs:
        if out.problem is None:
            out.add(event)
            if out.problem is not None:  # a full disk: that output stops, the run goes on
                _say(f"workbench: warning: {out.problem}")


def _stop(transcript: Transcript, outputs: list[Recorder | Journal], done: DoneEvent) -> None:
    transcript.add(done)
    _add(outputs, done)
