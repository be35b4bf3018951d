"""What the engine emits: one TokenEvent per token it emits or rejects, one StepEvent per verify step.

Consumers (headless printers, the app, recorders, stats) see nothing else of the engine, so everything
a user may want to look at has to be in these records. They are plain frozen dataclasses: cheap to
create on the hot path, safe to hand across threads, trivially turned into JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Source(str, Enum):
    """Where a token came from."""

    TARGET = "target"  # the target model alone (plain step, correction, bonus)
    DRAFT = "draft"  # an external draft model
    LOOKUP = "lookup"  # prompt lookup (n-gram match over prompt + output)
    SUFFIX = "suffix"  # suffix cache over earlier outputs and this request
    # llama.cpp's n-gram types (--spec-type), under their own names
    NGRAM_SIMPLE = "ngram-simple"
    NGRAM_MAP_K = "ngram-map-k"
    NGRAM_MAP_K4V = "ngram-map-k4v"
    NGRAM_MOD = "ngram-mod"
    NGRAM_CACHE = "ngram-cache"


def source_for(value: str) -> Source:
    """The Source named `value`, added as a member when a drafter registered later brings a new one
    (engine/drafter_registry.py), so that a new drafter needs no line here: members compare, iterate and
    load from a recording as the ones above do."""
    try:
        return Source(value)
    except ValueError:
        pass
    member = str.__new__(Source, value)
    member._name_, member._value_ = value.upper().replace("-", "_"), value
    Source._member_map_[member._name_] = member
    Source._value2member_map_[value] = member
    Source._member_names_.append(member._name_)
    return member


class Fate(str, Enum):
    """What became of a token."""

    ACCEPTED = "accepted"  # drafted and confirmed by the target
    REJECTED = "rejected"  # drafted and refused by the target (not part of the output)
    CORRECTION = "correction"  # the target's own token after a rejection
    BONUS = "bonus"  # the target's own token after every drafted token was accepted
    PLAIN = "plain"  # a step with nothing drafted: ordinary decoding


@dataclass(frozen=True, slots=True)
class TokenEvent:
    id: int
    piece: str  # UTF-8 safe text: a character split across tokens comes out whole on the last of them
    source: Source
    fate: Fate
    step: int
    draft_pos: int  # position within the step's draft (0-based); the target's own token sits after the draft

    @property
    def emitted(self) -> bool:
        return self.fate is not Fate.REJECTED

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "piece": self.piece, "source": self.source.value,
                "fate": self.fate.value, "step": self.step, "draft_pos": self.draft_pos}


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Emitted after the TokenEvents of one verify step."""

    step: int
    source: Source  # the drafter that proposed this step's draft (TARGET when nothing was drafted)
    k: int  # the draft length asked for
    drafted: int
    accepted: int
    emitted: int  # tokens added to the output (accepted + the target's own, fewer at a stop)
    draft_seconds: float
    verify_seconds: float
    time: float  # seconds since the end of prompt processing, at the end of this step
    # seconds spent keeping a recurrent target's state aside and restoring it (engine/state.py); part of `time`
    state_seconds: float = 0.0
    # tokens the draft model drafted in its own vocabulary for this step's draft (cross-vocabulary drafting);
    # 0 when the draft is in the target's vocabulary
    source_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["source"] = self.source.value
        return d


@dataclass(frozen=True, slots=True)
class PromptProgressEvent:
    """Prompt processing is under way: `done` of `total` prompt tokens evaluated (one per batch)."""

    done: int
    total: int


@dataclass(frozen=True, slots=True)
class PromptEvent:
    """Prompt processing finished; decoding starts."""

    n_tokens: int
    seconds: float


@dataclass(frozen=True, slots=True)
class SettingsEvent:
    """Settings changed between two steps; `changes` maps a name to its new value."""

    step: int
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NoticeEvent:
    """Something the user should read (a refused drafter, a shortened draft ...); generation goes on."""

    message: str


@dataclass(frozen=True, slots=True)
class DoneEvent:
    reason: str  # "n_predict", "eos", "stopped", "context_full"
    message: str


Event = TokenEvent | StepEvent | PromptProgressEvent | PromptEvent | SettingsEvent | NoticeEvent | DoneEvent
