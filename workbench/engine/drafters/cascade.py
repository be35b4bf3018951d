"""Combining drafters: our cascade, which picks the proposal most likely to be accepted, and llama.cpp's
chain (`--spec-type a,b,c`), where the first drafter that proposes anything wins.

Both keep the verdict where it belongs: the member whose proposal was verified hears `accept(n, False)`,
the others `accept(n, True)` (llama.cpp's is_other), and both count per member what llama.cpp counts per
implementation (engine/stats.py reads it from the events' sources).

The cascade asks its stages in the order the factory gives (retrieval first: a miss costs nothing; the
draft model last: asking it costs a forward pass per token). Each stage's recent acceptance `a` (accepted
/ drafted over its last steps, with a prior) rates a proposal of L tokens at its expected accepted length
a + a^2 + ... + a^L. A retrieval proposal is used only when it is rated at least as high as what the draft
model is expected to give at K; so an unconfident n-gram match no longer displaces a draft model whose
drafts are all accepted. Without a draft model the best-rated retrieval proposal of at least
`cascade_min` tokens is used.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..events import Source
from ..gate import DraftGate
from ..settings import Settings
from .base import Drafter, Proposal

WINDOW = 32  # steps of a stage's recent acceptance
PRIOR = (1.0, 2.0)  # (accepted, drafted) assumed before any verdict: 50%


def expected_accepted(a: float, length: int) -> float:
    """a + a^2 + ... + a^length: the expected accepted prefix when each token survives with probability a."""
    return sum(a ** i for i in range(1, length + 1))


class _Record:
    """A member's recent verdicts."""

    def __init__(self) -> None:
        self.steps: deque[tuple[int, int]] = deque(maxlen=WINDOW)  # (accepted, drafted)

    @property
    def acceptance(self) -> float:
        accepted = PRIOR[0] + sum(a for a, _ in self.steps)
        drafted = PRIOR[1] + sum(d for _, d in self.steps)
        return accepted / drafted


@dataclass(frozen=True, slots=True)
class CombinedParams:
    k: int  # the K setting (members sized by K cap at it)
    cascade_min: int
    stages: tuple[Any, ...]  # each member's own parameters, in member order


class CascadeDrafter(Drafter):
    source = Source.LOOKUP  # each proposal carries its own member's source

    def __init__(self, stages: list[Drafter]) -> None:
        self.stages = stages
        self._used: Drafter | None = None  # the member whose proposal the last step verified
        self._drafted = 0
        self.gate: DraftGate | None = None  # this step's draft gate, applied to each member (budget)
        self.records = {id(stage): _Record() for stage in stages}

    def params(self, settings: Settings) -> CombinedParams:
        return CombinedParams(settings.draft_max, settings.cascade_min,
                              tuple(stage.params(settings) for stage in self.stages))

    def budget(self, gate: DraftGate | None, k: int, params: CombinedParams, start: int) -> int:
        self.gate = gate  # each member is gated on its own as it is asked (_members)
        return k

    def cap(self, params: CombinedParams, k: int) -> int:
        return max((stage.cap(p, k) for stage, p in zip(self.stages, params.stages, strict=True)), default=k)

    def _members(self, k: int, params: CombinedParams) -> Any:
        """Each member with its parameters and the tokens it may propose this step (a member the gate pauses
        is passed over)."""
        for stage, stage_params in zip(self.stages, params.stages, strict=True):
            kk = min(k, stage.cap(stage_params, params.k))
            kk = stage.budget(self.gate, kk, stage_params, params.k)
            if kk > 0:
                yield stage, stage_params, kk

    def begin(self, context: list[int]) -> None:
        for stage in self.stages:
            stage.begin(context)

    def prepare(self, context: list[int]) -> None:
        for stage in self.stages:
            stage.prepare(context)

    def propose(self, context: list[int], k: int, params: CombinedParams, rng: np.random.Generator) -> Proposal:
        best, best_rating, self._used = Proposal(), 0.0, None
        for stage, stage_params, kk in self._members(k, params):
            a = self.records[id(stage)].acceptance
            if stage.source is Source.DRAFT:
                if best_rating >= expected_accepted(a, kk) and best.tokens:
                    break  # retrieval is expected to do at least as well: skip the draft model's cost
                proposal = stage.propose(context, kk, stage_params, rng)
                if proposal.tokens:
                    best, self._used = proposal, stage
                break
            proposal = stage.propose(context, kk, stage_params, rng)
            if len(proposal) < min(params.cascade_min, kk):
                continue
            rating = expected_accepted(a, len(proposal))
            if rating > best_rating:
                best, best_rating, self._used = proposal, rating, stage
        self._drafted = len(best)
        return best

    def accept(self, n_accepted: int, is_other: bool) -> None:
        if self._used is not None and not is_other:
            self.records[id(self._used)].steps.append((n_accepted, self._drafted))
        for stage in self.stages:
            stage.accept(n_accepted, is_other or stage is not self._used)
        self._used = None

    def finish(self, context: list[int], n_prompt: int) -> None:
        for stage in self.stages:
            stage.finish(context, n_prompt)

    def forget(self) -> None:
        for stage in self.stages:
            stage.forget()
        self.forget_ratings()

    def forget_ratings(self) -> None:
        """Drop its members' records (their acceptance here), leaving the members themselves as they are."""
        self.records = {id(stage): _Record() for stage in self.stages}


class ChainDrafter(CascadeDrafter):
    """llama.cpp's chain: members in llama.cpp's order; the first non-empty proposal is used as it is."""

    def propose(self, context: list[int], k: int, params: CombinedParams, rng: np.random.Generator) -> Proposal:
        self._used, self._drafted = None, 0
        for stage, stage_params, kk in self._members(k, params):
            proposal = stage.propose(context, kk, stage_params, rng)
            if proposal.tokens:
                del proposal.tokens[kk:]
                self._used, self._drafted = stage, len(proposal)
                return proposal
        return Proposal()
