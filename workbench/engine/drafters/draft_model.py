"""An external draft model (llama.cpp `speculative-simple`).

Its KV cache follows the accepted text: on each proposal the common prefix of what the cache holds and
the context is kept, the rest (last step's rejected or unverified drafts) is rolled back, and only the
new tokens are evaluated. Greedy target: the draft drafts greedily and stops early when its top
probability falls below p_min. Sampling target: it samples each token from its own distribution q,
shaped by the same temperature/top-k/top-p as the target's p, and hands q to the verifier.
"""

from __future__ import annotations

import numpy as np

from ..events import Source
from ..models import Model
from ..sampling import SamplingParams, probabilities, sample
from .base import Drafter, Proposal, settings_params


def _top_probability(logits: np.ndarray) -> float:
    top = float(logits.max())
    return 1.0 / float(np.exp(logits - top).sum())


@settings_params
class DraftParams:
    p_min: float  # stop drafting when the draft's top probability falls below this
    draft_min: int  # a draft shorter than this is dropped (llama.cpp's n_min): not worth a verify pass
    temperature: float  # the target's sampling, applied to the draft's q alike
    top_k: int
    top_p: float

    @property
    def sampling(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_k, self.top_p)


class DraftModelDrafter(Drafter):
    source = Source.DRAFT
    Params = DraftParams

    def __init__(self, model: Model) -> None:
        self.model = model  # model.cached: the tokens whose KV it holds

    def _rewind(self, context: list[int]) -> int:
        """Keep the cached prefix shared with context[:-1] (the last token is always evaluated again, for its
        logits); roll back the rest (last step's rejected or unverified drafts). Returns the kept length."""
        keep = 0
        cached = self.model.cached
        limit = min(len(cached), len(context) - 1)
        while keep < limit and cached[keep] == context[keep]:
            keep += 1
        if self.model.recurrent and keep < self.model.n_past:
            keep = 0  # a recurrent state is kept or read again whole (propose() puts it back after drafting)
        self.model.truncate(keep)
        return keep

    def prepare(self, context: list[int]) -> None:
        """Evaluate the prompt into the draft cache during prompt processing, so that the first draft step
        does not pay for it (and the decode-time figures stay about decoding)."""
        keep = self._rewind(context)
        self.model.eval(context[keep:-1])

    def _sync(self, context: list[int]) -> np.ndarray:
        """Bring the draft cache to `context`; returns the logits after its last token."""
        keep = self._rewind(context)
        return self.model.eval(context[keep:], logits="last")[-1]

    def least(self, params: DraftParams) -> int:
        return params.draft_min

    # begin() is the base's no-op: the prefix comparison in propose() handles a new request as well as a rollback
    def propose(self, context: list[int], k: int, params: DraftParams, rng: np.random.Generator) -> Proposal:
        room = self.model.n_ctx - len(context)
        k = min(k, room)
        if k <= 0:
            return Proposal([], self.source)
        logits = self._sync(context)
        rollback = self.model.rollback if self.model.recurrent else None
        if rollback is not None:  # a recurrent draft cannot forget its drafts: keep its state at `context` aside
            rollback.save()
        try:
            return self._draft(logits, k, params, rng)
        finally:
            if rollback is not None:
                rollback.restore([])
                rollback.take_seconds()

    def _draft(self, logits: np.ndarray, k: int, params: DraftParams, rng: np.random.Generator) -> Proposal:
        sampling = params.sampling
        tokens: list[int] = []
        qs: list[np.ndarray] | None = None if sampling.greedy else []
        while True:
            if params.p_min > 0.0 and _top_probability(logits) < params.p_min:
                break  # as llama.cpp: an unsure draft token is not worth a verify slot, not even the first
            if qs is None:
                token = int(np.argmax(logits))
            else:
                q = probabilities(logits, sampling)
                token = sample(q, rng)
                qs.append(q)
            tokens.append(token)
            if len(tokens) >= k:
                break
            logits = self.model.eval([token], logits="last")[-1]
        if len(tokens) < min(params.draft_min, k):  # as llama.cpp: too short a draft is none (K can be smaller)
            return Proposal([], self.source)
        return Proposal(tokens, self.source, qs)
