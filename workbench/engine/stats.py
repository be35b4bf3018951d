"""Speculation statistics, computed from the engine's events only.

Feed every event to `Stats.update`; read totals from the properties and a window over the last steps
from `rolling()`. Definitions follow llama.cpp's server and vLLM:
- acceptance: accepted / drafted draft tokens (steps with nothing drafted don't count);
- mean accepted length: accepted tokens per drafted step + 1 (tokens a verify pass yields);
- tokens per step: emitted tokens / all target passes (plain steps included);
- tokens/s: emitted tokens over the wall time from the end of prompt processing to the last token.

A run may come in segments (F4 generates more of the same request: another `Session.run`, whose step times start
from 0 again). Each DoneEvent closes a segment; the next one's times are laid after it, so a run's figures are
over everything it generated and the idle time between segments counts for nothing. A step that emitted nothing
(the end-of-generation token came first) changes no figure: a continuation that generates nothing changes nothing.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from .events import DoneEvent, Event, PromptEvent, Source, StepEvent
from .payoff import Costs, costs

COST_SAMPLES = 64  # verify times kept per batch width


@dataclass(slots=True)
class DrafterStats:
    """What llama.cpp counts per speculative implementation (common_speculative_print_stats)."""

    drafts: int = 0  # steps this drafter's proposal was verified (#gen drafts)
    accepted_drafts: int = 0  # of those, steps with at least one token accepted (#acc drafts)
    drafted: int = 0  # tokens proposed (#gen tokens)
    accepted: int = 0  # tokens accepted (#acc tokens)
    position_hits: list[int] = field(default_factory=list)  # accepted at draft position i

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0

    def costs(self) -> Costs | None:
        """What steps cost in this run, in plain steps (None until a plain step was measured)."""
        return costs({w: list(t) for w, t in self.verify_by_width.items()}, self.draft_seconds, self.n_drafted)

    @property
    def position_acceptance(self) -> list[float]:
        """Accepted at position i per draft (llama.cpp's per-position figures divide by the drafts too)."""
        return [h / self.drafts for h in self.position_hits] if self.drafts else []

    def line(self, name: str) -> str:
        positions = " ".join(f"{100 * a:.0f}" for a in self.position_acceptance[:8])
        return (f"{name:<14} drafts {self.drafts:>4} ({self.accepted_drafts} accepted)  tokens {self.accepted:>5}/"
                f"{self.drafted:<5} {100 * self.acceptance:5.1f}%  by position % {positions}")


@dataclass(frozen=True, slots=True)
class Window:
    steps: int
    acceptance: float
    mean_accepted_length: float
    tokens_per_second: float


class Stats:
    def __init__(self, window: int = 32) -> None:
        self.prompt_tokens = 0
        self.prompt_seconds = 0.0
        self.n_steps = 0
        self.n_drafted_steps = 0
        self.n_drafted = 0
        self.n_accepted = 0
        self.n_emitted = 0
        self.draft_seconds = 0.0
        self.verify_seconds = 0.0
        self.elapsed = 0.0  # the run's decoding seconds, up to its last emitted token (over all its segments)
        self._segments = 0.0  # the decoding seconds of the segments before this one
        self.plain_run = 0  # steps in a row, the last ones, that drafted nothing (a paused drafter's)
        self.state_seconds = 0.0  # keeping a recurrent target's state aside and restoring it (engine/state.py)
        self.n_state_steps = 0  # steps that paid for it (the drafting ones)
        self.source_tokens = 0  # cross-vocabulary drafting: the draft model's own tokens behind the drafts
        self.n_translated = 0  # and the target tokens they were translated into (drafted tokens of those steps)
        self.position_tries: list[int] = []  # how often draft position i was verified
        self.position_hits: list[int] = []  # how often it was accepted
        self.by_source: dict[Source, list[int]] = defaultdict(lambda: [0, 0])  # source -> [drafted, accepted]
        self.drafters: dict[Source, DrafterStats] = {}  # per drafter, in the order they first drafted
        self._recent: deque[tuple[float, StepEvent]] = deque(maxlen=window)  # (the run's clock, the step)
        # verify seconds of the latest steps per batch width (drafted + 1): what a batch costs here (engine/payoff.py)
        self.verify_by_width: dict[int, deque[float]] = {}

    def update(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            if event.emitted:
                self._step(event)
        elif isinstance(event, PromptEvent):
            self.prompt_tokens += event.n_tokens
            self.prompt_seconds += event.seconds
        elif isinstance(event, DoneEvent):
            self._segments = self.elapsed  # the next segment's times start from 0 again

    def _step(self, e: StepEvent) -> None:
        self.n_steps += 1
        self.n_emitted += e.emitted
        self.draft_seconds += e.draft_seconds
        self.verify_seconds += e.verify_seconds
        self.elapsed = self._segments + e.time
        self._recent.append((self.elapsed, e))
        self.plain_run = 0 if e.drafted else self.plain_run + 1
        self.verify_by_width.setdefault(e.drafted + 1, deque(maxlen=COST_SAMPLES)).append(e.verify_seconds)
        if e.state_seconds:
            self.state_seconds += e.state_seconds
            self.n_state_steps += 1
        if e.source_tokens:
            self.source_tokens += e.source_tokens
            self.n_translated += e.drafted
        if e.drafted == 0:
            return
        self.n_drafted_steps += 1
        self.n_drafted += e.drafted
        self.n_accepted += e.accepted
        counts = self.by_source[e.source]
        counts[0] += e.drafted
        counts[1] += e.accepted
        d = self.drafters.setdefault(e.source, DrafterStats())
        d.drafts += 1
        d.accepted_drafts += e.accepted > 0
        d.drafted += e.drafted
        d.accepted += e.accepted
        d.position_hits.extend([0] * (e.accepted - len(d.position_hits)))
        for i in range(e.accepted):
            d.position_hits[i] += 1
        while len(self.position_tries) < e.drafted:
            self.position_tries.append(0)
            self.position_hits.append(0)
        for i in range(e.drafted):
            self.position_tries[i] += 1
            if i < e.accepted:
                self.position_hits[i] += 1

    @property
    def acceptance(self) -> float:
        return self.n_accepted / self.n_drafted if self.n_drafted else 0.0

    @property
    def mean_accepted_length(self) -> float:
        return self.n_accepted / self.n_drafted_steps + 1.0 if self.n_drafted_steps else 1.0

    @property
    def tokens_per_step(self) -> float:
        return self.n_emitted / self.n_steps if self.n_steps else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.n_emitted / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def state_ms_per_step(self) -> float:
        """Milliseconds a drafting step spent keeping and restoring a recurrent target's state."""
        return 1000 * self.state_seconds / self.n_state_steps if self.n_state_steps else 0.0

    @property
    def source_per_token(self) -> float:
        """Cross-vocabulary drafting: the draft model's tokens per target token it was translated into."""
        return self.source_tokens / self.n_translated if self.n_translated else 0.0

    def extra_lines(self) -> list[str]:
        """The costs only some pairs pay: a recurrent target's state, cross-vocabulary translation."""
        lines = []
        if self.n_state_steps:
            share = self.state_seconds / self.elapsed if self.elapsed else 0.0
            lines.append(f"recurrent state kept and restored on {self.n_state_steps} drafting steps: "
                         f"{self.state_ms_per_step:.2f} ms a step ({100 * share:.1f}% of decoding)")
        if self.n_translated:
            lines.append(f"cross-vocabulary: {self.source_tokens} draft-model tokens translated into "
                         f"{self.n_translated} drafted target tokens ({self.source_per_token:.2f} each)")
        return lines

    def costs(self) -> Costs | None:
        """What steps cost in this run, in plain steps (None until a plain step was measured)."""
        return costs({w: list(t) for w, t in self.verify_by_width.items()}, self.draft_seconds, self.n_drafted)

    @property
    def position_acceptance(self) -> list[float]:
        return [h / t if t else 0.0 for h, t in zip(self.position_hits, self.position_tries, strict=True)]

    def drafter_lines(self) -> list[str]:
        """One line per drafter that drafted, as llama.cpp prints its per-implementation statistics."""
        return [d.line(source.value) for source, d in self.drafters.items()]

    def rolling(self) -> Window:
        """The same measures over the last `window` steps."""
        times = [t for t, _ in self._recent]
        steps = [s for _, s in self._recent]
        drafted = [s for s in steps if s.drafted]
        n_drafted = sum(s.drafted for s in drafted)
        n_accepted = sum(s.accepted for s in drafted)
        rate = 0.0
        if len(steps) >= 2 and times[-1] > times[0]:
            rate = sum(s.emitted for s in steps[1:]) / (times[-1] - times[0])
        elif steps and times[-1] > 0:
            rate = self.tokens_per_second
        return Window(
            steps=len(steps),
            acceptance=n_accepted / n_drafted if n_drafted else 0.0,
            mean_accepted_length=n_accepted / len(drafted) + 1.0 if drafted else 1.0,
            tokens_per_second=rate,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "n_predicted": self.n_emitted,
            "n_steps": self.n_steps,
            "n_drafted_steps": self.n_drafted_steps,
            "n_drafted": self.n_drafted,
            "n_accepted": self.n_accepted,
            "acceptance": self.acceptance,
            "mean_accepted_length": self.mean_accepted_length,
            "tokens_per_step": self.tokens_per_step,
            "tokens_per_second": self.tokens_per_second,
            "decode_seconds": self.elapsed,
            "draft_seconds": self.draft_seconds,
            "verify_seconds": self.verify_seconds,
            "state_seconds": self.state_seconds,
            "state_ms_per_step": self.state_ms_per_step,
            "source_tokens": self.source_tokens,
            "translated_tokens": self.n_translated,
            "prompt_tokens": self.prompt_tokens,
            "prompt_seconds": self.prompt_seconds,
            "position_acceptance": self.position_acceptance,
            "by_source": {s.value: {"drafted": d, "accepted": a} for s, (d, a) in self.by_source.items()},
            "by_drafter": {s.value: {"drafts": d.drafts, "accepted_drafts": d.accepted_drafts, "drafted": d.drafted,
                                     "accepted": d.accepted, "position_acceptance": d.position_acceptance}
                           for s, d in self.drafters.items()},
        }
