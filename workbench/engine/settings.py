"""Settings that can change while the engine generates.

Another thread (the app, a script) calls `LiveSettings.update(...)`; the decode loop takes one
`snapshot()` at the start of every step, so a change applies at the next step and a step never sees a
half-applied change. Values are validated on update, so a bad value is refused where it was typed
and the running generation is never disturbed by it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import WorkbenchError
from .sampling import SamplingParams

DRAFTERS = ("none", "draft", "lookup", "suffix", "cascade")
ADAPTIVE = ("off", "auto", "heuristic")  # how K is chosen: fixed, expected tokens/s, Hugging Face's +2/-1


@dataclass(frozen=True, slots=True)
class Settings:
    drafter: str = "none"
    draft_max: int = 8  # K: the most tokens drafted per step (the ceiling when adaptive is on)
    adaptive: str = "off"  # one of ADAPTIVE
    temperature: float = 0.0
    top_k: int = 40
    top_p: float = 0.95
    seed: int = 0
    ngram: int = 3  # prompt lookup: the longest n-gram matched (down to 1)
    p_min: float = 0.0  # draft model: stop drafting when its top probability falls below this
    cascade_min: int = 2  # cascade: a source must propose at least this many tokens to be used
    experts: int = 0  # MoE target: experts used per token; 0 keeps the model's own count (a change reloads)
    draft_experts: int = 0  # the same for an MoE draft model

    @property
    def sampling(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_k, self.top_p)

    def changed(self, other: Settings) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)}


# name -> (type, minimum, maximum); None means unbounded on that side
_LIMITS: dict[str, tuple[type, float | None, float | None]] = {
    "draft_max": (int, 0, 64),
    "temperature": (float, 0.0, 5.0),
    "top_k": (int, 0, None),
    "top_p": (float, 0.0, 1.0),
    "seed": (int, 0, 2**32 - 1),
    "ngram": (int, 1, 8),
    "p_min": (float, 0.0, 1.0),
    "cascade_min": (int, 1, 64),
    "experts": (int, 0, 1024),  # the engine checks the model's own expert count
    "draft_experts": (int, 0, 1024),
}


def validate(name: str, value: Any) -> Any:
    """The value converted to the setting's type, or a WorkbenchError that says what is allowed."""
    if name == "drafter":
        if value not in DRAFTERS:
            raise WorkbenchError(f"unknown drafter {value!r}: choose one of {', '.join(DRAFTERS)}")
        return value
    if name == "adaptive":
        if value not in ADAPTIVE:
            raise WorkbenchError(f"adaptive K must be one of {', '.join(ADAPTIVE)}, not {value!r}")
        return value
    if name not in _LIMITS:
        raise WorkbenchError(f"unknown setting {name!r}")
    kind, lo, hi = _LIMITS[name]
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        converted = kind(value)
    except (TypeError, ValueError):
        raise WorkbenchError(f"{name} must be {'a whole number' if kind is int else 'a number'}, not {value!r}") from None
    if (lo is not None and converted < lo) or (hi is not None and converted > hi):
        span = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise WorkbenchError(f"{name} must be {span}, not {value}")
    if kind is float and converted != converted:  # NaN
        raise WorkbenchError(f"{name} must be a number, not {value!r}")
    return converted


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
        clean = {name: validate(name, value) for name, value in changes.items()}
        with self._lock:
            self._settings = replace(self._settings, **clean)
            return self._settings
