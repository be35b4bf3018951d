"""The command layer's shared parts: argument groups and turning parsed arguments into settings, load
options, an engine and a prompt. cli.py, headless.py, bench.py and the app launchers import this module;
it imports none of them, so there is no circle.

The speculation and sampling flags are derived from the settings table (engine/settings.py): a setting
with a `flag` there is a flag here, with its type, choices and help. Flag names follow llama.cpp's where
it has them. Light on purpose: nothing heavy is imported at module level.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from .engine.errors import WorkbenchError
from .engine.settings import SPECS, LiveSettings, Spec, default_drafter, parse_number, validate

if TYPE_CHECKING:
    from .engine.models import LoadOptions
    from .engine.session import Engine
    from .presets import Preset


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(2, f"workbench: error: {message} (see --help)\n")


def _flag_type(spec: Spec):  # noqa: ANN202 (argparse's type callables)
    """The flag's value, typed strictly as the table says (no '1_0', '1e3'); its range is checked with the
    other settings, so that one message says what is allowed."""
    def convert(text: str) -> object:
        try:
            return spec.parse(text) if spec.parse else parse_number(text, spec.kind)
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                str(e) if spec.parse else f"{spec.flag} takes {'a whole number' if spec.kind is int else 'a number'}, "
                                          f"not {text!r}") from None
    return convert


def add_setting_flag(group: argparse._ArgumentGroup, name: str, default: object = None) -> None:
    """One flag of the settings table. The default is None ("not given") unless `default` says otherwise, so
    the table's own default applies and a preset is not overridden by a flag nobody typed."""
    spec = SPECS[name]
    short = {"n_predict": "-n"}.get(name)
    typed = {"choices": spec.choices} if spec.choices and not spec.parse else {"type": _flag_type(spec)}
    group.add_argument(*([short] if short else []), spec.flag, *spec.aliases, dest=name, default=default,
                       metavar=spec.metavar or None, help=spec.help, **typed)


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models")
    g.add_argument("-m", "--model", metavar="TARGET.gguf", help="target model (default: the embedded SmolLM2-135M)")
    g.add_argument("-md", "--model-draft", metavar="DRAFT.gguf", dest="draft", help="draft model for the draft drafter")
    g.add_argument("--cross-vocab", action="store_true",
                   help="use a draft model with another vocabulary: its drafts are re-tokenised into the target's "
                        "(costs a tokenisation each step; greedy output stays the target's own)")
    add_load_args(g)


def add_load_args(g: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    g.add_argument("-c", "--ctx-size", type=int, default=0, metavar="N",
                   help="context size in tokens (default 0: the model's own, at most 4096)")
    g.add_argument("-t", "--threads", type=int, default=None, metavar="N", help="threads (default: physical cores)")
    g.add_argument("-b", "--batch-size", type=int, default=512, metavar="N", help="prompt batch size (default 512)")
    g.add_argument("-fa", "--flash-attn", choices=("on", "off", "auto"), default="auto",
                   help="llama.cpp's flash attention (default auto: llama.cpp's choice); on quantised weights 'on' "
                        "makes verification batch-invariant (README)")


def add_prompt_args(g: argparse._ArgumentGroup | argparse.ArgumentParser, file_help: str = "read the prompt from a file") -> None:
    g.add_argument("-p", "--prompt", metavar="TEXT", help="the prompt")
    g.add_argument("-f", "--file", metavar="PROMPT_FILE", help=file_help)
    g.add_argument("--raw", action="store_true", help="plain completion: don't apply the model's chat template")


def add_setting_flags(g: argparse._ArgumentGroup) -> None:
    """Every setting of the table that has a flag, but the run's token count."""
    for name, spec in SPECS.items():
        if spec.flag and name != "n_predict":
            add_setting_flag(g, name)


def add_generation_args(p: argparse.ArgumentParser, n_predict: int = 256) -> None:
    g = p.add_argument_group("speculation and sampling")
    add_setting_flags(g)
    add_setting_flag(g, "n_predict", default=n_predict)
    add_cache_args(g)
    add_prompt_args(g)
    g.add_argument("--record", metavar="FILE.jsonl", help="record the session's events for `workbench replay`")


def add_cache_args(g: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    g.add_argument("-lcs", "--lookup-cache-static", metavar="FNAME", dest="lookup_cache_static",
                   help="ngram-cache: static n-gram cache (llama.cpp's format; `workbench lookup-create` makes one)")
    g.add_argument("-lcd", "--lookup-cache-dynamic", metavar="FNAME", dest="lookup_cache_dynamic",
                   help="ngram-cache: dynamic n-gram cache, read if it exists and updated after every request")


def add_app_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("app")
    g.add_argument("--preset", metavar="NAME", help="load a preset (name or .toml path)")
    g.add_argument("--theme", metavar="NAME", help="workbench-dark, workbench-light, workbench-colorblind, workbench-256, "
                                                   "or any Textual theme")
    g.add_argument("--colors", choices=("auto", "256", "truecolor"), default="auto",
                   help="colour system; over ssh COLORTERM is often lost: try 256 or truecolor")


def settings_from_args(args: argparse.Namespace, preset: Preset | None = None,
                       has_draft: bool | None = None) -> LiveSettings:
    """The settings the flags ask for over a preset's (flags not given keep the preset's, then the table's
    defaults). One WorkbenchError names a value out of range."""
    given = {name: getattr(args, name) for name, spec in SPECS.items()
             if spec.flag and name != "n_predict" and getattr(args, name, None) is not None}
    base = dict(preset.settings) if preset is not None else {}
    if "drafter" not in base and "drafter" not in given:
        base["drafter"] = default_drafter(bool(getattr(args, "draft", None)) if has_draft is None else has_draft)
    live = LiveSettings(**base)
    if given:
        live.update(**given)
    return live


def preset_from_args(args: argparse.Namespace) -> Preset | None:
    """--preset loaded (a missing or damaged one is a one-line WorkbenchError), its models filling in -m and
    -md where they were not given."""
    if not getattr(args, "preset", None):
        return None
    from .presets import load

    preset = load(args.preset)
    if getattr(args, "model", None) is None and preset.target:
        args.model = preset.target
    if getattr(args, "draft", None) is None and preset.draft:
        args.draft = preset.draft
    return preset


def n_predict_from_args(args: argparse.Namespace) -> int:
    return validate("n_predict", args.n_predict, called="-n")


def load_options_from_args(args: argparse.Namespace, threads: int | None = None) -> LoadOptions:
    """Context, batch and threads; `threads` is the default when -t is not given (else llama.cpp's own)."""
    from .engine.models import LoadOptions

    threads = checked_threads(args.threads) if args.threads is not None else threads
    flash = {"on": True, "off": False}.get(getattr(args, "flash_attn", "auto"))
    return LoadOptions(n_ctx=args.ctx_size, n_batch=args.batch_size, flash_attn=flash,
                       lookup_cache_static=getattr(args, "lookup_cache_static", None),
                       lookup_cache_dynamic=getattr(args, "lookup_cache_dynamic", None),
                       cross_vocab=bool(getattr(args, "cross_vocab", False)),
                       **({"n_threads": threads} if threads else {}))


THREADS_PER_CORE_MAX = 4  # beyond this, more threads only wait at llama.cpp's barriers (and libgomp may fail)


def checked_threads(n: int) -> int:
    """-t as llama.cpp can use it: below 1 is refused (LoadOptions); above the cores a warning on stderr, since
    the threads then take turns; above THREADS_PER_CORE_MAX x the cores capped there (-t 100000 would make
    llama.cpp's thread pool fail or crash)."""
    cores = os.cpu_count() or 1
    cap = THREADS_PER_CORE_MAX * cores
    if n > cap:
        print(f"workbench: warning: -t {n} is capped at {cap} ({THREADS_PER_CORE_MAX} x {cores} cores)", file=sys.stderr)
        return cap
    if n > cores:
        print(f"workbench: warning: -t {n} is more threads than the {cores} cores: they will take turns "
              f"(slower than -t {cores})", file=sys.stderr)
    return n


def engine_from_args(args: argparse.Namespace, drafter: str = "none") -> Engine:
    from .engine.session import Engine

    if drafter == "draft" and not args.draft:
        raise WorkbenchError("--drafter draft needs a draft model: add -md DRAFT.gguf")
    if hasattr(args, "n_predict"):
        n_predict_from_args(args)
    from .defaults import default_model, resolve_model

    model = resolve_model(args.model) if args.model else default_model()  # paths, `embedded`, `embedded:F16`...
    return Engine.load(model, resolve_model(args.draft) if args.draft else None, load_options_from_args(args))


def read_prompt(args: argparse.Namespace) -> str:
    """The prompt from -p or -f: a regular file of UTF-8 text within userfiles.PROMPT_MAX; -p text that is not
    UTF-8 (the shell passes bytes; Python keeps the bad ones as surrogates) is one line, not a crash."""
    from .engine.userfiles import PROMPT_MAX, read_text

    if args.prompt is not None and args.file is not None:
        raise WorkbenchError("give the prompt with -p or -f, not both")
    if args.file is not None:
        return read_text(args.file, "prompt file", PROMPT_MAX)
    if args.prompt is None:
        raise WorkbenchError("give a prompt with -p TEXT or -f FILE")
    return utf8_argument(args.prompt, "-p")


def utf8_argument(text: str, flag: str) -> str:
    """`text` if it is valid UTF-8 as the user typed it; else one line saying where it is not."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(text)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise WorkbenchError(f"{flag} is not UTF-8 text (byte {e.start} of {len(raw)})") from None
        return raw.decode("utf-8")
    return text
