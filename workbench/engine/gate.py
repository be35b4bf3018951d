"""The draft gate: a drafter drafts as much as its recent verdicts have earned, and pauses when it keeps missing.

On a CPU a rejected draft token costs real time: a verify batch of 9 costs about 3.5 decode steps, one of
49 (ngram-simple's default m = 48) about 15. llama.cpp's n-gram types were tuned on GPUs, where a longer
batch is nearly free; on a CPU their defaults drafted 48 tokens on a weak match and lost most of a
step's worth per drafted token. The gate is llama.cpp's own ngram-map-k rule (a key drafts at most what
it had accepted the last time) made general, per source:
- after a step with a rejection, the next draft from that source is at most one token longer than what
  was accepted; after a step with every token accepted the limit doubles (and lifts once it reaches the
  drafter's own size);
- when even a one-token draft is refused, the source pauses for 2, then 4, 8, 16 steps (the pause
  resets at its next accepted token), so a drafter with nothing to say costs a fraction of a verify
  slot per step instead of one.
It only ever shortens or skips a draft, so what is emitted is still the target's own choice. It applies
with a fixed K (adaptive K has its own cost model) and can be turned off (`--draft-gate off`) to draft
exactly as llama.cpp does, e.g. to compare with its tools on the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PAUSE = 16


@dataclass(slots=True)
class _State:
    limit: int | None = None  # the longest draft allowed now (None: the drafter's own)
    pause: int = 0  # steps still to skip
    next_pause: int = 2  # the pause after the next refused one-token draft


class DraftGate:
    def __init__(self) -> None:
        self._states: dict[str, _State] = {}

    def allow(self, source: str, k: int, floor: int = 0) -> int:
        """How many tokens `source` may draft this step (0 while it pauses), never fewer than `floor` (a
        drafter's own minimum draft, such as n_min) nor more than k; call once per step it could draft."""
        state = self._states.setdefault(source, _State())
        if state.pause > 0:
            state.pause -= 1
            return 0
        return k if state.limit is None else min(k, max(state.limit, floor))

    def paused(self, source: str) -> bool:
        state = self._states.get(source)
        return state is not None and state.pause > 0

    def verdict(self, source: str, drafted: int, accepted: int, cap: int) -> None:
        if drafted <= 0:
            return
        state = self._states.setdefault(source, _State())
        if accepted >= drafted:
            state.limit = None if state.limit is None or 2 * state.limit >= cap else 2 * state.limit
            state.next_pause = 2
            return
        if accepted > 0:
            state.next_pause = 2
        elif drafted == 1:
            state.pause, state.next_pause = state.next_pause, min(MAX_PAUSE, 2 * state.next_pause)
        state.limit = accepted + 1
