"""The decode loop: draft -> verify in one target batch -> accept / roll back -> emit events.

The target's KV cache always holds the context but its last token (`context[:-1]`): each step evaluates
that last token followed by the draft, with logits at every position, so position i's logits judge
draft token i and the row after the last draft gives the bonus token. After the verdict the cache is
cut back to the new `context[:-1]`, which drops the rejected drafts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import clock
from .adaptive import AdaptiveK, HeuristicK
from .agreement import Agreement, compare, first_difference, plain_margin
from .drafters import Drafter, DrafterSet, Proposal
from .errors import WorkbenchError
from .events import (
    DoneEvent,
    Event,
    Fate,
    NoticeEvent,
    PromptEvent,
    PromptProgressEvent,
    SettingsEvent,
    Source,
    StepEvent,
    TokenEvent,
)
from .gate import PAUSED, DraftGate, StepCosts
from .gguf_info import ModelInfo, inspect
from .models import (
    LoadOptions,
    Model,
    VocabFacts,
    check_experts,
    expert_options,
    pair_problem,
    vocab_facts_from_file,
)
from .sampling import probabilities
from .settings import DrafterName, LiveSettings, Settings, validate
from .state import Rollback
from .text import PieceDecoder
from .transcript import Transcript
from .verify import greedy_verify, speculative_verify

STATE_NOTICE_STEPS = 24  # plain steps in a row chosen by adaptive K before it says drafting does not pay
# (a run of plain steps that long is a decision, not an exploration gap: adaptive K explores every 12-48 steps)
KPolicies = dict[tuple[str, str], "AdaptiveK | HeuristicK"]  # (adaptive mode, drafter) -> what it learnt


def load_warnings(target: ModelInfo, draft: ModelInfo | None) -> list[str]:
    """What to tell the user before loading: a pair larger than free memory, a draft larger than its target."""
    import psutil

    warnings = []
    free = psutil.virtual_memory().available
    need = target.file_size + (draft.file_size if draft else 0)
    if need > free:
        warnings.append(f"the models need {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB of memory is free: "
                        "loading may swap heavily or fail")
    if draft is not None and draft.n_params > target.n_params:
        warnings.append(f"the draft ({draft.name}, {draft.n_params / 1e6:.0f}M parameters) is larger than the target "
                        f"({target.name}, {target.n_params / 1e6:.0f}M): speculation will be slower than plain decoding")
    return warnings


class Engine:
    """A loaded target, an optional draft model, and the drafters that outlive a request."""

    def __init__(self, target: Model, draft: Model | None = None, cross_vocab: bool = False) -> None:
        self.target = target
        self.draft = draft
        self.experts = 0  # experts per token forced on the target; 0: the model's own count
        self.draft_experts = 0  # the same for the draft model
        self.warnings: list[str] = []  # things the user should know about this pair (memory, sizes)
        self.k_policies: KPolicies = {}  # what adaptive K learnt, kept across requests
        # Why the draft model's drafts are translated from its own vocabulary (the llama.cpp rule the pair
        # fails), or None when it shares the target's (drafters/cross_vocab.py)
        self.cross_vocab: str | None = None
        if draft is not None:
            self.cross_vocab = pair_problem(VocabFacts.of(target), VocabFacts.of(draft), cross_vocab)
        # Why speculation is off for this target, if it is: a recurrent state that llama.cpp cannot save
        # cannot be restored after a rejected draft (engine/state.py)
        self.no_speculation: str | None = None
        if target.recurrent and target.rollback is None:
            kind = "hybrid" if target.info.hybrid else "recurrent"
            self.no_speculation = (f"{target.info.arch} is a {kind} architecture and {target.rollback_problem}: "
                                   "speculation is off and it generates plainly")
        self.drafters = DrafterSet(draft, target if self.cross_vocab else None)
        self._session: Session | None = None
        self.step_costs = StepCosts()  # what steps cost here, for the draft gate of every request (engine/gate.py)

    @classmethod
    def load(cls, target: str | Path, draft: str | Path | None = None, options: LoadOptions | None = None) -> Engine:
        warnings = load_warnings(inspect(target), inspect(draft) if draft else None)
        options = options or LoadOptions()
        if draft:  # before the weights: a wrong pair is refused in seconds
            pair_problem(vocab_facts_from_file(target), vocab_facts_from_file(draft), options.cross_vocab)
        caches = DrafterSet.check_caches(options)  # a bad cache file is refused before any weights load
        t = Model(target, options)
        try:
            d = Model(draft, options) if draft else None
            engine = cls(t, d, options.cross_vocab)
            engine.drafters.use_caches(caches, options.lookup_cache_dynamic, t.n_vocab)
        except BaseException:
            t.close()
            raise
        engine.warnings = warnings
        return engine

    def check_experts(self, n: int, draft: bool = False) -> None:
        """Raise a WorkbenchError unless n experts per token is usable for the target (or the draft)."""
        model = self.draft if draft else self.target
        if model is None:
            if n:
                raise WorkbenchError("no draft model is loaded: its expert count does not apply")
            return
        check_experts(model.info, n)

    def set_experts(self, n: int, draft: bool = False) -> float:
        """Reload the target (or the draft) with n experts per token (0: the model's own count); mmap keeps
        this fast. Returns the seconds it took. The reloaded model's cache starts empty: the next step
        re-evaluates the context."""
        self.check_experts(n, draft)
        if n == (self.draft_experts if draft else self.experts):
            return 0.0
        start = time.perf_counter()
        old = self.draft if draft else self.target
        new = Model(old.info.path, expert_options(old, old.info, n))
        old.close()
        self.step_costs = StepCosts()  # another expert count, other costs
        if draft:
            self.draft, self.draft_experts = new, n
        else:
            self.target, self.experts = new, n
        if self.draft is not None and (draft or self.cross_vocab):  # a translating drafter holds the target too
            self.drafters.set_draft_model(self.draft, self.target if self.cross_vocab else None)
        return time.perf_counter() - start

    def forget(self) -> None:
        """Drop what the suffix cache learned from earlier requests (benchmarks compare runs from scratch)."""
        if self._session is not None:
            self._session.finish()  # so its output is not added after the memory was emptied
        self.drafters.forget()

    def available(self, drafter: str) -> str | None:
        """None if `drafter` can run here, else why not."""
        if drafter == "none":
            return None
        if self.no_speculation:
            return self.no_speculation
        if drafter == "draft" and self.draft is None:
            return "the draft drafter needs a draft model (-md DRAFT.gguf)"
        return None

    def check(self, name: str, value: object) -> None:
        """Raise a WorkbenchError unless a (validated) setting value can be used with this pair: the draft
        drafter needs a draft model, an expert count an MoE model with that many experts."""
        if name == "drafter" and (why := self.available(str(value))):
            raise WorkbenchError(why)
        if name in ("experts", "draft_experts"):
            self.check_experts(int(value), draft=name == "draft_experts")  # type: ignore[call-overload]

    def fit_settings(self, settings: LiveSettings) -> list[str]:
        """Bring settings chosen before this pair was loaded in line with it; returns what was changed and
        why, for the user. The draft drafter needs a draft model; an expert count needs an MoE target."""
        s, notes = settings.snapshot(), []
        if s.drafter == "draft" and self.draft is None:
            settings.update(drafter="lookup")
            notes.append("no draft model is loaded: the drafter is now lookup")
        if s.drafter == "chain" and "draft" in s.chain.split(",") and self.draft is None:
            notes.append("no draft model is loaded: the chain runs without its draft member")
        if self.draft is not None and s.drafter not in ("draft", "cascade", "chain"):
            notes.append(f"a draft model is loaded; the drafter is {s.drafter}: choose draft (or cascade) to use it")
        if s.experts and not self.target.info.is_moe:
            settings.update(experts=0)
        if s.draft_experts and (self.draft is None or not self.draft.info.is_moe):
            settings.update(draft_experts=0)
        return notes

    def session(self, prompt: str | list[int], settings: LiveSettings | None = None,
                k_policies: KPolicies | None = None) -> Session:
        """A new request. Ends the previous one, whose output then feeds the suffix cache. Adaptive K keeps
        what it learns in `k_policies` (default: the engine's own, carried from request to request)."""
        if self._session is not None:
            self._session.finish()
        tokens = self.tokens(prompt)
        if not tokens:
            raise WorkbenchError("the prompt is empty")
        if len(tokens) >= self.target.n_ctx:
            raise WorkbenchError(f"the prompt is {len(tokens)} tokens, longer than the context of {self.target.n_ctx}: "
                                 "shorten it or raise -c")
        for drafter in self.drafters:
            drafter.begin(tokens)
        self._session = Session(self, tokens, settings or LiveSettings(),
                                self.k_policies if k_policies is None else k_policies)
        return self._session

    @property
    def current(self) -> Session | None:
        """The request under way, or the last one (None before the first)."""
        return self._session

    def tokens(self, prompt: str | list[int]) -> list[int]:
        return self.target.tokenize(prompt, add_bos=self.target.add_bos) if isinstance(prompt, str) else list(prompt)

    def agreement(self, prompt: str | list[int], plain: list[int], other: list[int]) -> Agreement:
        """How `other` (a speculative output) agrees with `plain` (plain decoding's) on the same prompt: identical,
        or the first differing token with plain decoding's top-2 logit margin there (engine/agreement.py)."""
        i = first_difference(plain, other)
        if i is None:
            return compare(plain, other)
        if self._session is not None:
            self._session.finish()
        margin = plain_margin(self.target, self.tokens(prompt), plain, i)  # the next request re-syncs the cache
        return compare(plain, other, margin)

    def generate(self, prompt: str | list[int], n_predict: int = 256, k_policies: KPolicies | None = None,
                 **settings: object) -> Transcript:
        """One whole generation with fixed settings, for scripts, benchmarks and tests."""
        transcript = Transcript()
        for event in self.session(prompt, LiveSettings(**settings), k_policies).run(n_predict):
            transcript.add(event)
        return transcript

    def close(self) -> None:
        if self._session is not None:
            self._session.finish()
            self._session = None
        for m in (self.draft, self.target):
            if m is not None:
                m.close()


@dataclass(slots=True)
class _Step:
    """One decode step as its phases fill it in: plan K, draft, verify, commit (Session.run)."""

    settings: Settings
    drafter: Drafter | None  # None: a plain step
    policy: AdaptiveK | HeuristicK | None = None  # adaptive K, when it chooses K
    params: Any = None  # the drafter's parameters for this step
    gate: DraftGate | None = None  # the draft gate, when it applies
    k_max: int = 0  # the most the drafter may propose
    k_asked: int = 0  # what K (or the adaptive policy) asked for
    k: int = 0  # what the gate allows of it
    proposal: Proposal = field(default_factory=Proposal)
    rollback: Rollback | None = None  # a recurrent target's state kept aside, at `kept` tokens
    kept: int = 0
    n_acc: int = 0  # draft tokens accepted
    next: int = 0  # the target's own token after them
    started: float = 0.0  # clock.now() at the start of drafting, its end, the end of verifying
    drafted: float = 0.0
    verified: float = 0.0


class Session:
    """One request: its context grows with every step; `run` may be called again to continue it."""

    def __init__(self, engine: Engine, prompt: list[int], settings: LiveSettings, k_policies: KPolicies) -> None:
        self.engine = engine
        self.k_policies = k_policies
        self.settings = settings
        self.context = list(prompt)
        self.n_prompt = len(prompt)
        self.step = 0
        self.stop_event = threading.Event()
        self._text = PieceDecoder(lambda token: engine.target.piece(token))  # the target may be reloaded
        self._applied: Settings | None = None
        self._rng = np.random.default_rng(settings.snapshot().seed)
        self._finished = False
        self.gate = DraftGate(engine.step_costs)  # what each drafter's verdicts allow it to draft (engine/gate.py)
        # a recurrent target's state costs per drafted step (seconds keeping it, seconds of the step), how many
        # steps in a row adaptive K chose plain decoding, and this request's drafted and accepted tokens: to say
        # once why adaptive K stopped drafting (_adaptive_notice)
        self._state_costs: deque[tuple[float, float]] = deque(maxlen=64)
        self._plain_choices = 0
        self._said_plain = False
        self._drafted = self._accepted = 0

    @property
    def output(self) -> list[int]:
        return self.context[self.n_prompt:]

    def stop(self) -> None:
        """Ask `run` to end before its next step (thread-safe)."""
        self.stop_event.set()

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            for drafter in self.engine.drafters:
                drafter.finish(self.context, self.n_prompt)

    # --- the loop ---------------------------------------------------------------------------
    def _prefill(self) -> Iterator[Event]:
        """Make the target cache hold context[:-1], reusing whatever prefix it already holds."""
        target = self.engine.target
        held = target.cached
        want = self.context[:-1]
        keep = 0
        limit = min(len(held), len(want), target.n_past)
        while keep < limit and held[keep] == want[keep]:
            keep += 1
        if target.recurrent and keep < target.n_past:
            keep = 0  # a recurrent state is kept or read again whole
        start = clock.now()
        target.truncate(keep)
        total, chunk = len(want) - keep, target.options.n_batch
        for first in range(keep, len(want), chunk):  # a batch at a time, so that a long prompt shows progress
            target.eval(want[first:first + chunk])
            if total > chunk:
                yield PromptProgressEvent(min(first + chunk, len(want)) - keep, total)
        s = self.settings.snapshot()
        drafter = self.engine.drafters.get(s) if not self.engine.available(s.drafter) else None
        if drafter is not None:
            drafter.prepare(self.context)  # a draft model reads the prompt too
        yield PromptEvent(len(want) - keep, clock.now() - start)

    def _apply_experts(self, s: Settings, prefill: bool = True) -> Iterator[Event]:
        """Reload the target or draft when the expert count asked for differs from the one in force."""
        engine = self.engine
        for draft, wanted, current, name in ((False, s.experts, engine.experts, "experts"),
                                             (True, s.draft_experts, engine.draft_experts, "draft_experts")):
            if wanted == current:
                continue
            try:
                seconds = engine.set_experts(wanted, draft)
            except WorkbenchError as e:
                self.settings.update(**{name: current})  # refused: keep the count in force
                yield NoticeEvent(str(e))
                continue
            which = "draft" if draft else "target"
            yield NoticeEvent(f"{which} reloaded with {wanted or 'its own count of'} experts in {seconds:.2f} s")
            if prefill and not draft:
                yield from self._prefill()

    def run(self, n_predict: int = 256) -> Iterator[Event]:
        """Generate up to n_predict tokens, yielding events; ends with one DoneEvent. Each step plans its
        draft length, drafts, verifies in one target pass and commits what the target kept."""
        validate("n_predict", n_predict)
        self.stop_event.clear()
        yield from self._apply_experts(self.settings.snapshot(), prefill=False)
        yield from self._prefill()
        start = clock.now()
        produced = 0
        refused: set[str] = set()  # drafters this request cannot run, said once
        while True:
            target = self.engine.target
            if produced >= n_predict:
                yield DoneEvent("n_predict", f"generated {produced} tokens")
                return
            if self.stop_event.is_set():
                yield DoneEvent("stopped", f"stopped after {produced} tokens")
                return
            room = target.n_ctx - len(self.context)  # positions left once the last token is in the cache
            if room < 0:
                yield DoneEvent("context_full", f"context full ({target.n_ctx} tokens): generation stopped, output kept")
                return
            s = yield from self._take_settings()
            step = yield from self._plan(s, min(room, n_predict - produced - 1), refused)
            self._draft(step)
            self._verify(step)
            emitted, eog = yield from self._commit(step, start)
            produced += emitted
            if eog:
                # the end-of-generation token is not part of the output; drop it from the cache too
                yield DoneEvent("eos", f"end of generation after {produced} tokens")
                return

    def _take_settings(self) -> Generator[Event, None, Settings]:
        """This step's settings: a change since the last step is emitted (and a new seed or expert count applied)."""
        s = self.settings.snapshot()
        if self._applied is not None and s != self._applied:
            changes = s.changed(self._applied)
            if "seed" in changes:
                self._rng = np.random.default_rng(s.seed)
            yield SettingsEvent(self.step, changes)
        self._applied = s
        if (s.experts, s.draft_experts) != (self.engine.experts, self.engine.draft_experts):
            yield from self._apply_experts(s)
        return s

    def _plan(self, s: Settings, room: int, refused: set[str]) -> Generator[Event, None, _Step]:
        """Plan K: the drafter, what K (or the adaptive policy) asks for within `room`, and what the draft gate
        allows of it."""
        engine = self.engine
        drafter_name = s.drafter
        why_not = engine.available(drafter_name)
        if why_not:
            if drafter_name not in refused:
                refused.add(drafter_name)
                yield NoticeEvent(why_not)
            drafter_name = "none"
        step = _Step(s, engine.drafters.get(replace(s, drafter=drafter_name)))
        drafter = step.drafter
        if drafter is not None:
            step.policy = self._policy(s, drafter_name)
            step.params = drafter.params(s)
            step.k_max = drafter.cap(step.params, s.draft_max)
        step.k = step.k_asked = min(step.policy.choose(step.k_max) if step.policy else step.k_max, room)
        step.gate = self.gate if s.draft_gate == "on" and step.policy is None else None
        self.gate.timed = s.temperature <= 0.0  # at T > 0 a seed reproduces its output (engine/gate.py)
        if drafter is not None and step.k > 0:
            step.k = drafter.budget(step.gate, step.k, step.params, s.draft_max)
        return step

    def _draft(self, step: _Step) -> None:
        """Draft: the drafter's proposal, at most the planned K; one too short to pay here is dropped."""
        t0 = clock.now()
        drafter, gate = step.drafter, step.gate
        if drafter is not None and step.k > 0:
            proposal = drafter.propose(self.context, step.k, step.params, self._rng)
            del proposal.tokens[step.k:]
            if gate is not None and proposal.tokens and not gate.worth(proposal.source.value, len(proposal)):
                proposal = Proposal()  # too short to pay on this machine, however it fares (engine/gate.py)
            step.proposal = proposal
        step.started, step.drafted = t0, clock.now()

    def _verify(self, step: _Step) -> None:
        """Verify: the last token and the draft in one target pass (one per token when sequential), judged
        greedily or by rejection sampling. A recurrent target's state is kept aside first (engine/state.py)."""
        target, s, draft = self.engine.target, step.settings, step.proposal.tokens
        step.rollback = target.rollback if draft and target.recurrent else None
        step.kept = target.n_past
        if step.rollback is not None:
            step.rollback.save()  # a recurrent state cannot forget rejected drafts: keep it aside
        if s.verify == "sequential":  # one decode per token: plain decoding's own logits, batch-invariant
            rows = [np.array(target.eval([t], logits="last")[-1]) for t in [self.context[-1], *draft]]
        else:
            rows = target.eval([self.context[-1], *draft], logits="all")
        if s.temperature <= 0.0:
            step.n_acc, step.next = greedy_verify(draft, [int(np.argmax(r)) for r in rows])
        else:
            sampling = s.sampling
            step.n_acc, step.next = speculative_verify(draft, lambda i: probabilities(rows[i], sampling),
                                                       step.proposal.q, self._rng)
        step.verified = clock.now()

    def _commit(self, step: _Step, start: float) -> Generator[Event, None, tuple[int, bool]]:
        """Commit: the accepted drafts and the target's own token join the context, the cache drops the rest,
        the drafters, the K policy and the gate hear the verdict, and the step's events go out. Returns the
        tokens emitted and whether the target ended the generation."""
        engine, target = self.engine, self.engine.target
        proposal, n_acc, draft, gate = step.proposal, step.n_acc, step.proposal.tokens, step.gate
        new = [*draft[:n_acc], step.next]
        eog = next((i for i, t in enumerate(new) if target.is_eog(t)), None)
        if eog is not None:
            new = new[:eog]
        self.context.extend(new)
        state_seconds = 0.0
        if step.rollback is not None:
            if len(self.context) - 1 < target.n_past:
                notice = self._restore(step.rollback, step.kept)
                if notice:
                    yield notice
            state_seconds = step.rollback.take_seconds()
        else:
            target.truncate(len(self.context) - 1)
        cost = step.verified - step.started + state_seconds  # what the step cost, the state's keeping included
        if step.policy:
            step.policy.observe(len(draft), n_acc, cost)
        if step.drafter is not None and draft:
            engine.drafters.accept(step.drafter, n_acc)
            if gate is not None:
                gate.verdict(proposal.source.value, len(draft), n_acc, step.k_max, cost)
        elif gate is not None:
            gate.plain_step(cost)
        self._drafted += len(draft)
        self._accepted += n_acc
        yield from self._adaptive_notice(step, state_seconds, cost)
        yield from self._token_events(proposal, n_acc, step.next, len(new))
        yield StepEvent(self.step, proposal.source if draft else Source.TARGET, step.k_asked, len(draft), n_acc,
                        len(new), step.drafted - step.started, step.verified - step.drafted,
                        clock.now() - start, state_seconds, proposal.n_source)
        for notice in self.gate.take_notices():  # why a drafter paused (engine/gate.py)
            yield NoticeEvent(notice)
        self.step += 1
        return len(new), eog is not None

    def _restore(self, rollback: Rollback, kept: int) -> NoticeEvent | None:
        """Back to the state kept aside at `kept` tokens, then the accepted tokens again. If llama.cpp cannot
        restore it, the context is read again from scratch and the session goes on plainly."""
        try:
            rollback.restore(self.context[kept:len(self.context) - 1])
            return None
        except WorkbenchError as e:
            target = self.engine.target
            target.truncate(0)
            target.eval(self.context[:-1])
            self.engine.no_speculation = f"{e}: speculation is off and it generates plainly"
            return NoticeEvent(self.engine.no_speculation)

    def _adaptive_notice(self, step: _Step, state_seconds: float, cost: float) -> Iterator[NoticeEvent]:
        """Say once a request when adaptive K stops drafting (many steps in a row chose plain decoding), with the
        figures it decided on: a drafter that goes quiet with no word reads as a broken one. On a recurrent target
        the reason is usually the state's keeping and restoring; elsewhere, acceptance against what a verify costs."""
        if state_seconds:
            self._state_costs.append((state_seconds, cost))
        policy = step.policy
        self._plain_choices = self._plain_choices + 1 if isinstance(policy, AdaptiveK) and step.k == 0 else 0
        if self._plain_choices != STATE_NOTICE_STEPS or self._said_plain or not isinstance(policy, AdaptiveK):
            return
        self._said_plain = True
        if self._state_costs:
            state = sum(c[0] for c in self._state_costs) / len(self._state_costs)
            seconds = sum(c[1] for c in self._state_costs) / len(self._state_costs)
            yield NoticeEvent(f"{PAUSED} (adaptive K, drafting does not pay): on this recurrent target, keeping and "
                              f"restoring the state costs {1000 * state:.1f} ms of a {1000 * seconds:.1f} ms drafted "
                              "step, more than drafting wins here (set K by hand to force it)")
            return
        text = f"{PAUSED} (adaptive K, drafting does not pay): " + (
            f"{self._accepted} of {self._drafted} drafted tokens accepted" if self._drafted else
            f"an estimated {100 * policy.acceptance(1)[0]:.0f}% of first drafted tokens accepted (from earlier requests)")
        measured = policy.relative_cost()
        if measured:
            n, steps = measured
            text += f"; a step drafting {n} tokens (a {n + 1}-token verify) costs {steps:.1f} plain steps here"
        yield NoticeEvent(text + " (set K by hand to force it)")

    def _policy(self, s: Settings, drafter: DrafterName) -> AdaptiveK | HeuristicK | None:
        """The K policy the settings ask for. It lives in the engine, per drafter, so what it learnt about
        this machine's costs and this drafter's acceptance carries over from request to request."""
        if s.adaptive == "off":
            return None
        key = (s.adaptive, drafter)
        if key not in self.k_policies:
            self.k_policies[key] = AdaptiveK() if s.adaptive == "auto" else HeuristicK(min(5, max(1, s.draft_max)))
        return self.k_policies[key]

    def _token_events(self, proposal: Proposal, n_acc: int, nxt: int, n_emitted: int) -> Iterator[TokenEvent]:
        """Accepted drafts, then the rejected ones (shown where they were proposed), then the target's token."""
        draft, step, text = proposal.tokens, self.step, self._text
        for i in range(min(n_acc, n_emitted)):
            yield TokenEvent(draft[i], text.decode(draft[i]), proposal.source, Fate.ACCEPTED, step, i)
        rejected = draft[n_acc:]
        for i, piece in enumerate(text.peek(rejected), start=n_acc):
            yield TokenEvent(draft[i], piece, proposal.source, Fate.REJECTED, step, i)
        if n_emitted > n_acc:
            fate = Fate.PLAIN if not draft else Fate.BONUS if n_acc == len(draft) else Fate.CORRECTION
            yield TokenEvent(nxt, text.decode(nxt), Source.TARGET, fate, step, n_acc)
