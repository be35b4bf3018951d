"""The draft gate: a drafter drafts as much as its recent verdicts have earned, and pauses when it keeps missing.

On a CPU a rejected draft token costs real time, so the gate makes llama.cpp's own ngram-map-k rule (a key
drafts at most what it had accepted the last time) general, per source:
- a source starts at K tokens (a drafter sized larger, like ngram-simple's 48, grows from there);
- after a step with a rejection, the next draft from that source is at most one token longer than what
  was accepted; after a step with every token accepted the limit doubles (and lifts once it reaches the
  drafter's own size);
- when even a one-token draft is refused, the source pauses for 2, then 4, 8, 16 steps (the pause
  resets at its next accepted token);
- the measured rule: over its last 8 drafting steps a source must yield at least as many tokens per second
  as the recent steps that drafted nothing (a plain decoding step). One that does not is paused for 8, then
  16, ... 64 steps and judged afresh after. A drafter that proposes at every step (lookup, suffix) leaves no
  plain step to compare with, so while fewer than two are known one step in seven drafts nothing;
- no draft too short to pay: once a source's drafts of n tokens are measured to cost n + 1 plain steps or
  more, it drafts at least n + 1 tokens or nothing;
- a loss budget: once a source's drafting steps among the last HORIZON (64) steps have cost more than they
  saved (their tokens at the plain step's pace, less what they took), it may draft only as much as an
  outright rejection would leave within ALLOWANCE_STEPS plain step plus LOSS_SHARE of those steps' time of
  breaking even. So it loses at most about 3% of any 64 steps.
Each source's verdicts (limits, pauses, budget) start afresh with each request; what steps cost (StepCosts)
is a fact about the machine and the target, so the engine keeps it from request to request.
It only ever shortens or skips a draft, so what is emitted is still the target's own choice. It applies
with a fixed K (adaptive K has its own cost model) and can be turned off (`--draft-gate off`) to draft
exactly as llama.cpp does. Why each rule is there, and the measurements that chose them: docs/draft-gate.md.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_PAUSE = 16
WINDOW = 8  # drafting steps a source is judged on
JUDGE_AFTER = 4  # ... once it has this many
MAX_SLOW_PAUSE = 64
PROBE_EVERY = 6  # drafting steps in a row after which one plain step is measured, while too few are known
HORIZON = 64  # steps: the loss budget counts a source's drafting steps among the last 64
ALLOWANCE_STEPS = 1.0  # plain steps' worth of time a source may lose in them before it has saved any
LOSS_SHARE = 0.02  # ... plus this share of their time (of the request's, while it is shorter)
TOKEN_COST = 0.5  # a draft token's cost in plain steps, assumed until the source's own steps measure it
# A source over its loss budget is held back PROBE_AFTER steps, then drafts one probe of the shortest draft that can
# pay; a refused probe doubles the hold (up to HORIZON), an accepted one puts it on probation: it drafts by its
# verdicts (the length rule) without the budget until a draft is rejected. Waiting for the loss to age out instead
# (the whole HORIZON) kept ngram-cache from the copying that follows one early rejection on copy-heavy raw text:
# Spec-Bench summarization q0 drafted 117 tokens against llama-lookup's 184 (benchmarks/gate_replay.py --forms raw).
PROBE_AFTER = 16
PAUSED = "draft paused"  # how the notice saying why a source paused begins


@dataclass
class StepCosts:
    """What steps cost on this machine with this target, kept by the engine from request to request: facts about
    the hardware and the model, unlike a source's verdicts, which the gate learns afresh for each request."""

    plain: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))  # seconds of recent plain steps
    drafted: dict[tuple[str, int], deque[float]] = field(default_factory=dict)  # (source, tokens drafted): seconds


@dataclass(slots=True)
class _State:
    limit: int | None = None  # the longest draft allowed now (None: the drafter's own)
    pause: int = 0  # steps still to skip
    next_pause: int = 2  # the pause after the next refused one-token draft
    recent: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=WINDOW))  # (tokens, seconds)
    next_slow_pause: int = 8  # the pause after the source is found slower than plain steps
    # this request's timed drafting steps: (the gate's step number, tokens drafted, tokens emitted, seconds)
    timed: deque[tuple[int, int, int, float]] = field(default_factory=deque)
    held_until: int | None = None  # over its loss budget: the gate's step number of its next probe
    next_hold: int = field(default_factory=lambda: PROBE_AFTER)  # how long its next hold lasts
    probing: bool = False  # the draft allowed now is a probe
    probation: bool = False  # its probe was accepted: it drafts by the other rules until a draft is rejected
    drafted: int = 0  # this request's drafted tokens, for the notice that says why the source paused
    accepted: int = 0
    last_length: int = 0  # the length of its last draft
    told: bool = False  # the notice was given (once a request: the status line says when drafting stays off)


class DraftGate:
    def __init__(self, costs: StepCosts | None = None) -> None:
        self._states: dict[str, _State] = {}
        self._costs = costs or StepCosts()
        self._plain = self._costs.plain  # seconds of recent steps that drafted nothing
        self._drafting_run = 0  # steps in a row that drafted: a drafter that always proposes leaves no plain step
        self._elapsed = 0.0  # the request's timed steps so far
        self._step = 0  # steps so far (plain or drafted)
        # the rules that read the clock (probing, the slow rule, drafts too short to pay, the budget) apply only
        # while this is set: the session clears it at T > 0, where a decision that hung on the machine's timing
        # would change which random draws a seed makes, and the seed would no longer reproduce the output
        self.timed = True
        self.notices: list[str] = []  # why a source paused, for the session to pass on (take_notices)

    def take_notices(self) -> list[str]:
        """The notices given since the last call: each source's first pause this request, and why."""
        notices, self.notices = self.notices, []
        return notices

    def _tell(self, source: str, state: _State, why: str) -> None:
        """Say once a request why a source stopped drafting, with the figures behind it: a drafter that goes
        quiet with no word reads as a broken one. Only words: the rules that paused it are the ones above."""
        if state.told:
            return
        state.told = True
        text = f"{PAUSED} ({source}, {why}): {state.accepted} of {state.drafted} drafted tokens accepted"
        n = state.last_length
        costs, step = self._costs.drafted.get((source, n)), self._plain_seconds()
        if costs and step:
            median = sorted(costs)[len(costs) // 2]
            text += f"; a step drafting {n} tokens (a {n + 1}-token verify) costs {median / step:.1f} plain steps here"
        self.notices.append(text)

    def plain_step(self, seconds: float) -> None:
        """A step that drafted nothing took `seconds`: the rate every source must beat."""
        self._plain.append(seconds)
        self._drafting_run = 0
        self._elapsed += seconds
        self._step += 1

    def _plain_seconds(self) -> float | None:
        """A plain step's recent mean duration: the yardstick of the timed rules (None while fewer than 2 are known)."""
        return sum(self._plain) / len(self._plain) if len(self._plain) >= 2 else None

    def _affordable(self, state: _State) -> int | None:
        """The longest draft whose outright rejection would keep the source within its loss budget (None: no limit,
        while the source has lost nothing this request or no plain step is known to measure against)."""
        step = self._plain_seconds()
        if not self.timed or step is None:
            return None
        while state.timed and state.timed[0][0] <= self._step - HORIZON:
            state.timed.popleft()
        steps, drafted = len(state.timed), sum(t[1] for t in state.timed)
        tokens, seconds = sum(t[2] for t in state.timed), sum(t[3] for t in state.timed)
        saved = tokens * step - seconds
        if saved >= 0:
            return None  # nothing lost yet: the other rules decide
        elapsed = min(self._elapsed, HORIZON * step)
        budget = saved + ALLOWANCE_STEPS * step + LOSS_SHARE * elapsed
        # seconds = steps * step + per_token * drafted, for this source's steps (at least 0.05 of a step)
        per_token = (seconds / step - steps) / drafted if drafted else TOKEN_COST
        return max(0, int(budget / (step * max(0.05, per_token))))

    def _probe_plain(self) -> bool:
        """Skip a draft now and then (every PROBE_EVERY drafting steps, while fewer than 2 plain steps are known)
        so that a drafter that always proposes, such as lookup or suffix, can be compared with plain steps."""
        return self.timed and len(self._plain) < 2 and self._drafting_run >= PROBE_EVERY

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
        least = max(1, floor)
        while least < k and not self.worth(source, least):
            least += 1  # the shortest draft that can pay
        allowed = k if state.limit is None else min(k, max(state.limit, least))
        affordable = self._affordable(state)
        if affordable is None or affordable >= least or state.probation:
            state.held_until = None
            return allowed if affordable is None or state.probation else min(allowed, affordable)
        # over its budget: held back for a while, then one probe of the shortest draft that can pay
        if state.held_until is None:
            state.held_until = self._step + state.next_hold
            self._tell(source, state, "it has lost time this request")
        if self._step < state.held_until:
            return 0
        state.probing = True
        return least

    def worth(self, source: str, n: int) -> bool:
        """Whether a draft of n tokens from `source` could pay even if all were accepted: false once its steps
        with n drafted tokens are measured to cost at least n + 1 plain steps (on SmolLM2 Q4_1 at 2 threads a
        one-token draft costs 2.2 steps: it can only lose)."""
        costs = self._costs.drafted.get((source, n))
        step = self._plain_seconds()
        if not self.timed or costs is None or len(costs) < 2 or step is None:
            return True
        return sorted(costs)[len(costs) // 2] < (n + 1) * step

    def paused(self, source: str) -> bool:
        state = self._states.get(source)
        return state is not None and state.pause > 0

    def verdict(self, source: str, drafted: int, accepted: int, cap: int, seconds: float = 0.0) -> None:
        if drafted <= 0:
            return
        state = self._states.setdefault(source, _State())
        state.drafted, state.accepted, state.last_length = state.drafted + drafted, state.accepted + accepted, drafted
        self._drafting_run += 1
        self._step += 1
        if state.probing or state.probation:
            was_probing, state.probing = state.probing, False
            state.probation = accepted >= drafted  # accepted in full: the text suits it now, until a rejection
            if state.probation and was_probing:
                state.recent.clear()  # and the slow rule judges it afresh, not on the losses before the probe
            if not state.probation:  # then, if still over its budget, it is held back again, twice as long
                state.next_hold = min(HORIZON, 2 * state.next_hold)
                state.held_until = self._step + state.next_hold
        if seconds > 0 and self.timed:
            state.timed.append((self._step, drafted, accepted + 1, seconds))
            self._elapsed += seconds
            state.recent.append((accepted + 1, seconds))
            self._costs.drafted.setdefault((source, drafted), deque(maxlen=5)).append(seconds)
            if self._slower_than_plain(state):
                # measured, whatever the cause (rejections, the verify batch's cost, the drafter's own time):
                # its steps yield fewer tokens per second than steps without a draft. Pause it, then judge afresh.
                state.pause, state.next_slow_pause = state.next_slow_pause, min(MAX_SLOW_PAUSE,
                                                                                 2 * state.next_slow_pause)
                state.recent.clear()
                state.limit = None if state.limit is None else max(1, state.limit)
                self._tell(source, state, "slower than plain decoding")
                return
        if accepted >= drafted:
            state.limit = None if state.limit is None or 2 * state.limit >= cap else 2 * state.limit
            state.next_pause = 2
            return
        if accepted > 0:
            state.next_pause = 2
        elif drafted == 1:
            state.pause, state.next_pause = state.next_pause, min(MAX_PAUSE, 2 * state.next_pause)
            if state.next_pause == MAX_PAUSE:  # refused again and again, not a single miss
                self._tell(source, state, "its one-token drafts keep being refused")
        state.limit = accepted + 1
        while state.limit < cap and not self.worth(source, state.limit):
            state.limit += 1  # the shortest draft that can pay

    def _slower_than_plain(self, state: _State) -> bool:
        step = self._plain_seconds()
        if len(state.recent) < JUDGE_AFTER or step is None:
            return False
        plain_rate = 1 / step
        rate = sum(t for t, _ in state.recent) / sum(sec for _, sec in state.recent)
        if rate >= plain_rate:
            state.next_slow_pause = 8
            return False
        return True
