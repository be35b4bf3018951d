"""The draft gate: a drafter drafts as much as its recent verdicts have earned, and pauses when it keeps missing.

On a CPU a rejected draft token costs real time: a verify batch of 9 costs about 3.5 decode steps, one of
49 (ngram-simple's default m = 48) about 15. llama.cpp's n-gram types were tuned on GPUs, where a longer
batch is nearly free; on a CPU their defaults drafted 48 tokens on a weak match and lost most of a
step's worth per drafted token. The gate is llama.cpp's own ngram-map-k rule (a key drafts at most what
it had accepted the last time) made general, per source:
- a source starts at K tokens (a drafter sized larger, like ngram-simple's 48, grows from there);
- after a step with a rejection, the next draft from that source is at most one token longer than what
  was accepted; after a step with every token accepted the limit doubles (and lifts once it reaches the
  drafter's own size);
- when even a one-token draft is refused, the source pauses for 2, then 4, 8, 16 steps (the pause
  resets at its next accepted token), so a drafter with nothing to say costs a fraction of a verify
  slot per step instead of one;
- and the measured rule that makes it "never a trap": over its last 8 drafting steps a source must yield
  at least as many tokens per second as the recent steps that drafted nothing (a plain decoding step).
  One that does not is paused for 8, then 16, ... 64 steps and judged afresh after. Whatever makes it
  slow (rejections, the cost of the verify batch on this machine, its own drafting time) is in the clock.
  A drafter that proposes at every step (lookup, suffix) leaves no plain step to compare with, so while
  fewer than two are known one step in seven drafts nothing.
The gate starts afresh with each request. Carrying it over (as adaptive K's estimates are) was measured: it
lifted the worst never-a-trap cells (short answers no longer pay again for their first long drafts), but the
demo's second and third runs fell from 1.38x to 1.23x plain (6 rounds): pauses and short limits learnt at the
end of one answer held the draft model back at the start of the next, where it is most often right.
It only ever shortens or skips a draft, so what is emitted is still the target's own choice. It applies
with a fixed K (adaptive K has its own cost model) and can be turned off (`--draft-gate off`) to draft
exactly as llama.cpp does, e.g. to compare with its tools on the same tokens.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_PAUSE = 16
WINDOW = 8  # drafting steps a source is judged on
JUDGE_AFTER = 4  # ... once it has this many
MAX_SLOW_PAUSE = 64
PROBE_EVERY = 6  # drafting steps in a row after which one plain step is measured, while too few are known


@dataclass(slots=True)
class _State:
    limit: int | None = None  # the longest draft allowed now (None: the drafter's own)
    pause: int = 0  # steps still to skip
    next_pause: int = 2  # the pause after the next refused one-token draft
    recent: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=WINDOW))  # (tokens, seconds)
    next_slow_pause: int = 8  # the pause after the source is found slower than plain steps


class DraftGate:
    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self._plain: deque[float] = deque(maxlen=WINDOW)  # seconds of recent steps that drafted nothing
        self._drafting_run = 0  # steps in a row that drafted: a drafter that always proposes leaves no plain step

    def plain_step(self, seconds: float) -> None:
        """A step that drafted nothing took `seconds`: the rate every source must beat."""
        self._plain.append(seconds)
        self._drafting_run = 0

    def _probe_plain(self) -> bool:
        """Skip a draft now and then (every PROBE_EVERY drafting steps, while fewer than 2 plain steps are known)
        so that a drafter that always proposes, such as lookup or suffix, can be compared with plain steps."""
        return len(self._plain) < 2 and self._drafting_run >= PROBE_EVERY

    def allow(self, source: str, k: int, floor: int = 0, start: int | None = None) -> int:
        """How many tokens `source` may draft this step (0 while it pauses), never fewer than `floor` (a
        drafter's own minimum draft, such as n_min) nor more than k; call once per step it could draft.
        A source starts at `start` (K: llama.cpp's n-gram types, sized 48 or 64, grow there from K as their
        drafts are accepted, instead of paying a 49-token verify pass for their first guess)."""
        state = self._states.setdefault(source, _State(limit=start if start is not None and start < k else None))
        if state.pause > 0:
            state.pause -= 1
            return 0
        if self._probe_plain():
            self._drafting_run = 0
            return 0
        return k if state.limit is None else min(k, max(state.limit, floor))

    def paused(self, source: str) -> bool:
        state = self._states.get(source)
        return state is not None and state.pause > 0

    def verdict(self, source: str, drafted: int, accepted: int, cap: int, seconds: float = 0.0) -> None:
        if drafted <= 0:
            return
        state = self._states.setdefault(source, _State())
        self._drafting_run += 1
        if seconds > 0:
            state.recent.append((accepted + 1, seconds))
            if self._slower_than_plain(state):
                # measured, whatever the cause (rejections, the verify batch's cost, the drafter's own time):
                # its steps yield fewer tokens per second than steps without a draft. Pause it, then judge afresh.
                state.pause, state.next_slow_pause = state.next_slow_pause, min(MAX_SLOW_PAUSE,
                                                                                 2 * state.next_slow_pause)
                state.recent.clear()
                state.limit = None if state.limit is None else max(1, state.limit)
                return
        if accepted >= drafted:
            state.limit = None if state.limit is None or 2 * state.limit >= cap else 2 * state.limit
            state.next_pause = 2
            return
        if accepted > 0:
            state.next_pause = 2
        elif drafted == 1:
            state.pause, state.next_pause = state.next_pause, min(MAX_PAUSE, 2 * state.next_pause)
        state.limit = accepted + 1

    def _slower_than_plain(self, state: _State) -> bool:
        if len(state.recent) < JUDGE_AFTER or len(self._plain) < 2:
            return False
        plain_rate = len(self._plain) / sum(self._plain)
        rate = sum(t for t, _ in state.recent) / sum(sec for _, sec in state.recent)
        if rate >= plain_rate:
            state.next_slow_pause = 8
            return False
        return True
