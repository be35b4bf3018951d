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

from . import drafter_registry
from .errors import WorkbenchError

if TYPE_CHECKING:
    from .sampling import SamplingParams

DrafterName = str  # a name in the drafter registry (engine/drafter_registry.py), or 'none'
# the drafters registered when the settings table was made (the registry's functions answer for later ones)
DRAFTERS: tuple[DrafterName, ...] = drafter_registry.names()
# A chain's members in llama.cpp's fixed order of preference (common_speculative_init: n-gram types first, the
# draft model last); ours (lookup, suffix) sit between them. A chain given in any order runs in this one.
CHAIN_ORDER: tuple[DrafterName, ...] = drafter_registry.chain_order()
_CHAIN_ALIASES = {"draft-simple": "draft"}  # llama.cpp's name for a draft model
VerifyMode = Literal["batch", "sequential"]  # one target pass for all drafts, or one per token (exactly plain's logits)
VERIFY: tuple[VerifyMode, ...] = get_args(VerifyMode)
AdaptiveMode = Literal["off", "auto", "heuristic"]  # how K is chosen: fixed, expected tokens/s, Hugging Face's +2/-1
ADAPTIVE: tuple[AdaptiveMode, ...] = get_args(AdaptiveMode)
GateMode = Literal["on", "off"]  # the draft gate (engine/gate.py)
GATE: tuple[GateMode, ...] = get_args(GateMode)
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
    used_by: tuple[str, ...] = ()  # the drafters this setting tunes (the sidebar shows it while one is in use)
    aliases: tuple[str, ...] = ()  # more CLI flags for it (llama.cpp's names)
    llama: str = ""  # llama.cpp's flag for it, for `workbench export` ("" when llama.cpp has none)
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


def parse_chain(text: str) -> str:
    """A drafter chain as llama.cpp's --spec-type takes it ("ngram-mod,draft-simple"): known names only, each
    once, put in CHAIN_ORDER. ValueError names the unknown one."""
    names: list[str] = []
    order = drafter_registry.chain_order()
    for raw in text.split(","):
        name = _CHAIN_ALIASES.get(raw.strip(), raw.strip())
        if not name:
            continue
        if name not in order:
            raise ValueError(f"unknown drafter {raw.strip()!r} in the chain: choose from {', '.join(order)}")
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("the chain names no drafter")
    return ",".join(sorted(names, key=order.index))


def parse_drafter(text: str) -> str:
    """--drafter / --spec-type: one drafter, or a comma-separated chain of them (which selects `chain`)."""
    name = _CHAIN_ALIASES.get(text.strip(), text.strip())
    if "," in name:
        return parse_chain(name)
    if name not in drafter_registry.names():
        raise ValueError(f"unknown drafter {text!r}: choose one of {', '.join(drafter_registry.names())} or a "
                         "comma-separated chain")
    return name


def chain_members(settings: Settings) -> tuple[str, ...]:
    """The drafters a setting's drafter choice runs: the chain's members, the cascade's stages, or itself."""
    if settings.drafter == "chain":
        return tuple(settings.chain.split(","))
    if settings.drafter == "cascade":
        return drafter_registry.cascade_order()
    return (settings.drafter,)


def drafters_using(name: str) -> tuple[str, ...]:
    """The drafter choices setting `name` tunes: the drafters its spec names, and the cascade when it tunes one of
    the cascade's stages."""
    used_by = SPECS[name].used_by
    cascade = ("cascade",) if any(d in used_by for d in drafter_registry.cascade_order()) else ()
    return tuple(dict.fromkeys((*used_by, *cascade)))


def in_use(spec: Spec, settings: Settings) -> bool:
    """Whether a setting matters to the drafter(s) chosen (settings of no drafter in particular always do)."""
    if not spec.used_by:
        return True
    members = chain_members(settings)
    return settings.drafter in spec.used_by or any(m in spec.used_by for m in members)


def setting(default: Any, kind: type, label: str, short: str, help: str, **spec: Any) -> Any:
    return field(default=default, metadata={"spec": Spec(kind, default, label, short, help, **spec)})


@dataclass(frozen=True, slots=True)
class Settings:
    drafter: DrafterName = setting(
        "none", str, "drafter", "drafter", "where drafts come from: one drafter, or a comma-separated chain as "
        "llama.cpp's --spec-type takes it (default: draft with -md, else lookup)",
        choices=DRAFTERS, flag="--drafter", aliases=("--spec-type",), metavar="NAME[,NAME...]", parse=parse_drafter)
    chain: str = setting(
        "ngram-mod,ngram-cache,draft", str, "chain", "chain",
        "drafter chain: the first member that drafts wins, in llama.cpp's order (n-gram types, then ours, then the "
        "draft model)", used_by=("chain",), parse=parse_chain, sidebar=True)
    adaptive: AdaptiveMode = setting(
        "off", str, "adaptive K", "adaptive", "how K is chosen (set with --draft-max auto|heuristic)", choices=ADAPTIVE)
    draft_max: int = setting(
        8, int, "K (draft max)", "K", "most tokens drafted per step by the draft model, lookup and suffix (default "
        "8; the llama.cpp n-gram types have their own sizes); 'auto' picks K each step for the most tokens/s, "
        "'heuristic' is Hugging Face's +2/-1 schedule", lo=0, hi=64, step=1, flag="--draft-max",
        aliases=("--spec-draft-n-max",), metavar="K", parse=parse_k, llama="--spec-draft-n-max")
    draft_gate: GateMode = setting(
        "on", str, "draft gate", "gate", "on: a drafter drafts at most one token more than it last had accepted "
        "(twice as many after a full acceptance), pauses after refused drafts, makes no draft too short to pay "
        "here, and once it has lost time drafts only what a rejection would keep within 1 plain step + a 50th of "
        "the recent steps; off: every drafter drafts as llama.cpp's does (default on; fixed K only)", choices=GATE,
        flag="--draft-gate")
    temperature: float = setting(0.0, float, "temperature", "T", "temperature; 0 is greedy (default 0)",
                                 lo=0.0, hi=5.0, step=0.1, decimals=2, flag="--temp", metavar="T", llama="--temp")
    top_k: int = setting(40, int, "top-k", "top-k", "top-k, 0 disables (default 40)", lo=0, step=5, flag="--top-k",
                         metavar="N", llama="--top-k")
    top_p: float = setting(0.95, float, "top-p", "top-p", "top-p, 1 disables (default 0.95)", lo=0.0, hi=1.0,
                           step=0.05, decimals=2, flag="--top-p", metavar="P", llama="--top-p")
    ngram: int = setting(3, int, "lookup n-gram", "ngram", "prompt lookup: longest n-gram to match (default 3)",
                         lo=1, hi=8, step=1, flag="--ngram", metavar="N", used_by=("lookup",))
    lookup_min_hits: int = setting(
        2, int, "lookup min hits", "min_hits", "prompt lookup: a match shorter than the n-gram size drafts only when "
        "its continuation was seen this often (default 2)", lo=1, hi=64, step=1, flag="--lookup-min-hits",
        metavar="N", used_by=("lookup",))
    suffix_min_prob: float = setting(
        0.3, float, "suffix min prob", "min_prob", "suffix cache: draft while the path's estimated probability "
        "stays above this (default 0.3)", lo=0.0, hi=1.0, step=0.05, decimals=2, flag="--suffix-min-prob",
        metavar="P", used_by=("suffix",))
    p_min: float = setting(0.0, float, "p_min (draft)", "p_min",
                           "draft model: stop drafting below this top probability (default 0)", lo=0.0, hi=1.0,
                           step=0.05, decimals=2, flag="--p-min", aliases=("--spec-draft-p-min", "--draft-p-min"),
                           metavar="P", used_by=("draft",), llama="--spec-draft-p-min")
    draft_min: int = setting(0, int, "n_min (draft)", "n_min",
                             "draft model: drop a draft shorter than this (default 0)", lo=0, hi=64, step=1,
                             flag="--spec-draft-n-min", aliases=("--draft-min",), metavar="N", used_by=("draft",),
                             llama="--spec-draft-n-min")
    simple_n: int = setting(12, int, "simple size n", "simple_n", "ngram-simple: n-gram size to look up (default 12)",
                            lo=1, hi=256, step=1, flag="--spec-ngram-simple-size-n", metavar="N",
                            used_by=("ngram-simple",), llama="--spec-ngram-simple-size-n")
    simple_m: int = setting(48, int, "simple size m", "simple_m", "ngram-simple: m-gram size to draft (default 48)",
                            lo=1, hi=256, step=1, flag="--spec-ngram-simple-size-m", metavar="N",
                            used_by=("ngram-simple",), llama="--spec-ngram-simple-size-m")
    map_k_n: int = setting(12, int, "map-k size n", "map_k_n", "ngram-map-k: n-gram size to look up (default 12)",
                           lo=1, hi=256, step=1, flag="--spec-ngram-map-k-size-n", metavar="N",
                           used_by=("ngram-map-k",), llama="--spec-ngram-map-k-size-n")
    map_k_m: int = setting(48, int, "map-k size m", "map_k_m", "ngram-map-k: m-gram size to draft (default 48)",
                           lo=1, hi=256, step=1, flag="--spec-ngram-map-k-size-m", metavar="N",
                           used_by=("ngram-map-k",), llama="--spec-ngram-map-k-size-m")
    map_k_min_hits: int = setting(1, int, "map-k min hits", "map_k_hits",
                                  "ngram-map-k: key hits before it drafts (llama.cpp takes it; its map-k ignores it; "
                                  "default 1)", lo=1, hi=1024, step=1, flag="--spec-ngram-map-k-min-hits",
                                  metavar="N", used_by=("ngram-map-k",), llama="--spec-ngram-map-k-min-hits")
    map_k4v_n: int = setting(12, int, "map-k4v size n", "k4v_n", "ngram-map-k4v: n-gram size to look up (default 12)",
                             lo=1, hi=256, step=1, flag="--spec-ngram-map-k4v-size-n", metavar="N",
                             used_by=("ngram-map-k4v",), llama="--spec-ngram-map-k4v-size-n")
    map_k4v_m: int = setting(48, int, "map-k4v size m", "k4v_m", "ngram-map-k4v: m-gram size to draft (default 48)",
                             lo=1, hi=256, step=1, flag="--spec-ngram-map-k4v-size-m", metavar="N",
                             used_by=("ngram-map-k4v",), llama="--spec-ngram-map-k4v-size-m")
    map_k4v_min_hits: int = setting(1, int, "map-k4v min hits", "k4v_hits",
                                    "ngram-map-k4v: key hits before it drafts (default 1)", lo=1, hi=1024, step=1,
                                    flag="--spec-ngram-map-k4v-min-hits", metavar="N", used_by=("ngram-map-k4v",),
                                    llama="--spec-ngram-map-k4v-min-hits")
    mod_n_match: int = setting(24, int, "mod n_match", "mod_match", "ngram-mod: tokens hashed to find the next one "
                               "(default 24)", lo=1, hi=1024, step=1, flag="--spec-ngram-mod-n-match", metavar="N",
                               used_by=("ngram-mod",), llama="--spec-ngram-mod-n-match")
    mod_n_min: int = setting(48, int, "mod n_min", "mod_min", "ngram-mod: drop a draft shorter than this (default 48)",
                             lo=0, hi=1024, step=1, flag="--spec-ngram-mod-n-min", metavar="N",
                             used_by=("ngram-mod",), llama="--spec-ngram-mod-n-min")
    mod_n_max: int = setting(64, int, "mod n_max", "mod_max", "ngram-mod: most tokens drafted (default 64)",
                             lo=1, hi=1024, step=1, flag="--spec-ngram-mod-n-max", metavar="N",
                             used_by=("ngram-mod",), llama="--spec-ngram-mod-n-max")
    experts: int = setting(0, int, "experts (MoE)", "experts",
                           "MoE target: experts used per token (default 0: the model's own count; a change reloads)",
                           lo=0, hi=1024, step=1, flag="--experts", metavar="N")
    seed: int = setting(0, int, "seed", "seed", "sampling seed (default 0)", lo=0, hi=2**32 - 1, step=1,
                        flag="--seed", metavar="S", llama="--seed")
    cascade_min: int = setting(2, int, "cascade minimum", "min",
                               "cascade: a source must propose at least this many tokens to be used", lo=1, hi=64,
                               sidebar=False, used_by=("cascade",))
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
    if spec.kind is str and spec.parse is not None:  # the drafter (or a chain of them), the chain
        try:
            return spec.parse(str(value))
        except ValueError as e:
            raise WorkbenchError(str(e)) from None
    if spec.choices:
        if value not in spec.choices:
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
    - a comma-separated drafter is a chain: the drafter becomes 'chain' and the list its members;
    - K given as a word ('auto', 'heuristic') turns that policy on, with K as its ceiling;
    - a K set by hand, without a policy in the same change, turns adaptive K off."""
    changes = dict(changes)
    drafter = changes.get("drafter")
    if isinstance(drafter, str) and "," in drafter:  # a chain given as the drafter (--spec-type a,b)
        changes["drafter"], changes["chain"] = "chain", drafter
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
