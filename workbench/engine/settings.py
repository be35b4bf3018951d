"""The settings table: every setting declared once, and the thread-safe holder the decode loop reads.

Each field of `Settings` carries a `Spec` (type, range, label, short name, step, CLI flag, help); the
argument parser (workbench/args.py), the sidebar controls, presets, validation, the stream's settings
marks and the status line are all derived from it, so a new setting is one line here
(docs/architecture.md, "Adding a setting").

Another thread (the app, a script) calls `LiveSettings.update(...)`; the decode loop takes one
`snapshot()` at the start of every step, so a change applies at the next step and a step never sees a
half-applied change. Values are validated on update, so a bad value is refused where it was typed and
the running generation is never disturbed by it. The rules about how settings interact (a K set by hand
turns adaptive K off; `--draft-max auto`) live here too, so headless runs and the app share them.

Light on purpose: importing this module loads neither numpy nor llama_cpp (`workbench --help` uses it).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from .errors import WorkbenchError

if TYPE_CHECKING:
    from .sampling import SamplingParams

DrafterName = Literal["none", "draft", "lookup", "suffix", "cascade"]
DRAFTERS: tuple[DrafterName, ...] = get_args(DrafterName)
VerifyMode = Literal["batch", "sequential"]  # one target pass for all drafts, or one per token (exactly plain's logits)
VERIFY: tuple[VerifyMode, ...] = get_args(VerifyMode)
AdaptiveMode = Literal["off", "auto", "heuristic"]  # how K is chosen: fixed, expected tokens/s, Hugging Face's +2/-1
ADAPTIVE: tuple[AdaptiveMode, ...] = get_args(AdaptiveMode)
AUTO_K_CEILING = 32  # the largest K an adaptive choice considers when K was given as a word


@dataclass(frozen=True, slots=True)
class Spec:
    """How one setting is typed, bounded, shown and given on the command line."""

    kind: type
    default: Any
    label: str  # as the sidebar and error messages show it
    short: str  # in the stream's settings marks and the status line
    help: str
    lo: float | None = None  # None: unbounded on that side
    hi: float | None = None
    choices: tuple[str, ...] = ()
    step: float = 0  # the sidebar steps by this with up/down; 0: not a stepped field
    decimals: int = 0
    flag: str = ""  # the CLI flag ("" for none)
    metavar: str = ""
    sidebar: bool = True  # shown in the controls sidebar
    parse: Callable[[str], Any] | None = None  # a CLI flag that takes more than the plain type
    name: str = ""  # filled in from the field name

    def span(self) -> str:
        return f"from {self.lo} to {self.hi}" if self.hi is not None else f"at least {self.lo}"

    def format(self, value: Any) -> str:
        if self.kind is float:
            return f"{value:.{self.decimals or 2}f}"
        return str(value)


def parse_k(text: str) -> int | str:
    """--draft-max: a number, or a word that hands K to an adaptive policy."""
    if text in ADAPTIVE[1:]:
        return text
    try:
        return int(parse_number(text, int))
    except ValueError:
        raise ValueError(f"K must be a whole number, {' or '.join(repr(a) for a in ADAPTIVE[1:])}, not {text!r}") from None


def setting(default: Any, kind: type, label: str, short: str, help: str, **spec: Any) -> Any:
    return field(default=default, metadata={"spec": Spec(kind, default, label, short, help, **spec)})


@dataclass(frozen=True, slots=True)
class Settings:
    drafter: DrafterName = setting(
        "none", str, "drafter", "drafter", "where drafts come from (default: draft with -md, else lookup)",
        choices=DRAFTERS, flag="--drafter")
    adaptive: AdaptiveMode = setting(
        "off", str, "adaptive K", "adaptive", "how K is chosen (set with --draft-max auto|heuristic)", choices=ADAPTIVE)
    draft_max: int = setting(
        8, int, "K (draft max)", "K", "most tokens drafted per step (default 8); 'auto' picks K each step for the most "
        "tokens/s, 'heuristic' is Hugging Face's +2/-1 schedule", lo=0, hi=64, step=1, flag="--draft-max",
        metavar="K", parse=parse_k)
    temperature: float = setting(0.0, float, "temperature", "T", "temperature; 0 is greedy (default 0)",
                                 lo=0.0, hi=5.0, step=0.1, decimals=2, flag="--temp", metavar="T")
    top_k: int = setting(40, int, "top-k", "top-k", "top-k, 0 disables (default 40)", lo=0, step=5, flag="--top-k",
                         metavar="N")
    top_p: float = setting(0.95, float, "top-p", "top-p", "top-p, 1 disables (default 0.95)", lo=0.0, hi=1.0,
                           step=0.05, decimals=2, flag="--top-p", metavar="P")
    ngram: int = setting(3, int, "lookup n-gram", "ngram", "prompt lookup: longest n-gram to match (default 3)",
                         lo=1, hi=8, step=1, flag="--ngram", metavar="N")
    p_min: float = setting(0.0, float, "p_min (draft)", "p_min",
                           "draft model: stop drafting below this top probability (default 0)", lo=0.0, hi=1.0,
                           step=0.05, decimals=2, flag="--p-min", metavar="P")
    experts: int = setting(0, int, "experts (MoE)", "experts",
                           "MoE target: experts used per token (default 0: the model's own count; a change reloads)",
                           lo=0, hi=1024, step=1, flag="--experts", metavar="N")
    seed: int = setting(0, int, "seed", "seed", "sampling seed (default 0)", lo=0, hi=2**32 - 1, step=1,
                        flag="--seed", metavar="S")
    cascade_min: int = setting(2, int, "cascade minimum", "min",
                               "cascade: a source must propose at least this many tokens to be used", lo=1, hi=64,
                               sidebar=False)
    draft_experts: int = setting(0, int, "draft experts (MoE)", "draft_experts", "MoE draft: experts used per token",
                                 lo=0, hi=1024, flag="--draft-experts", metavar="N", sidebar=False)

    verify: VerifyMode = setting(
        "batch", str, "verification", "verify",
        "batch: the drafts checked in one target pass (the speedup; llama.cpp's CPU kernels round a batch slightly "
        "differently from one token, so near-ties can flip); sequential: one pass per token, the very logits plain "
        "decoding computes, so greedy output equals plain decoding, at plain decoding's speed (default batch)",
        choices=VERIFY, flag="--verify")

    @property
    def sampling(self) -> SamplingParams:
        from .sampling import SamplingParams

        return SamplingParams(self.temperature, self.top_k, self.top_p)

    def changed(self, other: Settings) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)}

    def k_text(self) -> str:
        """K as the status line shows it: the number, or the adaptive policy and its ceiling."""
        return f"{self.adaptive}<={self.draft_max}" if self.adaptive != "off" else str(self.draft_max)


# Settings of a run rather than of the engine: validated and shown like the others, not read per step.
RUN_SPECS: dict[str, Spec] = {
    "n_predict": Spec(int, 256, "tokens per run", "n", "tokens to generate (default 256)", lo=1,
                      step=64, flag="--n-predict", metavar="N", name="n_predict"),
}
_FIELDS = frozenset(f.name for f in fields(Settings))
SPECS: dict[str, Spec] = {
    **{f.name: replace(f.metadata["spec"], name=f.name) for f in fields(Settings)}, **RUN_SPECS}


# A number as a person types it: optional sign, digits, optional decimals. Python's int()/float() would
# also take "1_0", "1e3", "inf" and " 5 ", which a field or flag should refuse rather than reinterpret.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def parse_number(text: str, kind: type) -> int | float:
    """A number of `kind` as a person types it, or ValueError (for '1_', '1e', '-', '2.5' as a whole number)."""
    if not _NUMBER.fullmatch(text.strip()):
        raise ValueError(text)
    number = float(text)
    if kind is int:
        if not number.is_integer():
            raise ValueError(text)
        return int(number)
    return number


def validate(name: str, value: Any, called: str = "") -> Any:
    """The value converted to the setting's type, or a WorkbenchError that says what is allowed, naming the
    setting as `called` (a CLI flag, say) or by its name."""
    spec = SPECS.get(name)
    if spec is None:
        raise WorkbenchError(f"unknown setting {name!r}")
    if spec.choices:
        if value not in spec.choices:
            if name == "drafter":
                raise WorkbenchError(f"unknown drafter {value!r}: choose one of {', '.join(spec.choices)}")
            raise WorkbenchError(f"{spec.label} must be one of {', '.join(spec.choices)}, not {value!r}")
        return value
    kind = spec.kind
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        if isinstance(value, str):
            value = parse_number(value, kind)
        converted = kind(value)
        if kind is float and not math.isfinite(converted):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise WorkbenchError(f"{called or name} must be {'a whole number' if kind is int else 'a number'}, "
                             f"not {value!r}") from None
    if (spec.lo is not None and converted < spec.lo) or (spec.hi is not None and converted > spec.hi):
        raise WorkbenchError(f"{called or name} must be {spec.span()}, not {value}")
    return converted


def describe(changes: dict[str, Any]) -> str:
    """Changed settings as the stream marks them: `K=4 T=0.7`."""
    return " ".join(f"{SPECS[k].short if k in SPECS else k}={v}" for k, v in changes.items())


def with_rules(current: Settings, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as the engine applies them, after the rules about how settings interact:
    - K given as a word ('auto', 'heuristic') turns that policy on, with K as its ceiling;
    - a K set by hand, without a policy in the same change, turns adaptive K off."""
    changes = dict(changes)
    k = changes.get("draft_max")
    if isinstance(k, str) and k in ADAPTIVE[1:]:
        changes["draft_max"], changes["adaptive"] = AUTO_K_CEILING, k
    elif "draft_max" in changes and "adaptive" not in changes and current.adaptive != "off":
        if validate("draft_max", k) != current.draft_max:
            changes["adaptive"] = "off"
    return changes


def default_drafter(has_draft_model: bool) -> DrafterName:
    """The drafter a run uses when none is named: the draft model when one is given, else prompt lookup."""
    return "draft" if has_draft_model else "lookup"


def change(live: LiveSettings, name: str, value: Any, check: Callable[[str, Any], None] | None = None) -> list[str]:
    """One setting as a person gave it (typed text or a value): validated and named as the sidebar labels it,
    checked against the loaded pair (`check`, the engine's), put in force. Returns what the rules between
    settings changed besides, for the user (a K set by hand turns adaptive K off)."""
    clean = validate(name, value, called=SPECS[name].label if name in SPECS else "")
    if check is not None:
        check(name, clean)
    before = live.snapshot()
    if getattr(before, name) == clean:
        return []
    after = live.update(**{name: clean})
    if before.adaptive != "off" and after.adaptive == "off" and name != "adaptive":
        return [f"K={clean} set by hand: adaptive K is off"]
    return []


class LiveSettings:
    """Thread-safe holder of the current Settings."""

    def __init__(self, initial: Settings | None = None, **overrides: Any) -> None:
        self._lock = threading.Lock()
        self._settings = initial or Settings()
        if overrides:
            self.update(**overrides)

    def snapshot(self) -> Settings:
        with self._lock:
            return self._settings

    def update(self, **changes: Any) -> Settings:
        """Validate every change first, then apply them all at once (or none)."""
        unknown = [name for name in changes if name not in _FIELDS]
        if unknown:
            raise WorkbenchError(f"unknown setting {unknown[0]!r}")
        with self._lock:
            ruled = with_rules(self._settings, changes)
            clean = {name: validate(name, value) for name, value in ruled.items()}
            self._settings = replace(self._settings, **clean)
            return self._settings
