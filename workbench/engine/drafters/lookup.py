"""Prompt lookup (apoorvumang's prompt-lookup-decoding, llama.cpp's `lookup` idea): find the last n tokens
earlier in prompt + output, for n from the configured size down to 1, and propose what followed their
most recent earlier occurrence. Dictionaries from n-gram to position and to its continuation counts,
extended as the context grows, make a proposal O(n) whatever the context length; a miss costs nothing.

It drafts only on evidence: a match of the full n-gram size is evidence enough (the text is being
copied), a shorter match only when the token that followed it has done so at least `lookup_min_hits`
times and more often than all others together. (The length follows the verdicts through the session's
draft gate, engine/gate.py.) Without these a spurious one-token match drafted K tokens that a verify pass
paid for and threw away (0.30x plain decoding on a chat-form summary).
"""

from __future__ import annotations

import numpy as np

from ..events import Source
from ..settings import SPECS
from .base import Drafter, Proposal, settings_params

MAX_NGRAM = int(SPECS["ngram"].hi or 8)  # the highest n-gram size the settings allow


@settings_params
class LookupParams:
    ngram: int  # the longest n-gram matched (down to 1)
    lookup_min_hits: int  # a shorter match drafts only when its continuation was seen this often


class LookupDrafter(Drafter):
    source = Source.LOOKUP
    Params = LookupParams

    def __init__(self) -> None:
        self.begin([])

    def begin(self, context: list[int]) -> None:
        # _last[n][ngram] = position of the token that followed the most recent occurrence of ngram
        self._last: list[dict[tuple[int, ...], int]] = [{} for _ in range(MAX_NGRAM + 1)]
        # _seen[n][ngram] = {next token: times it followed ngram}
        self._seen: list[dict[tuple[int, ...], dict[int, int]]] = [{} for _ in range(MAX_NGRAM + 1)]
        self._indexed = 1  # the n-grams ending before every position < _indexed are in _last

    def _index(self, context: list[int]) -> None:
        for j in range(self._indexed, len(context)):
            nxt = context[j]
            for n in range(1, min(MAX_NGRAM, j) + 1):
                gram = tuple(context[j - n:j])
                self._last[n][gram] = j
                seen = self._seen[n].setdefault(gram, {})
                seen[nxt] = seen.get(nxt, 0) + 1
        self._indexed = max(self._indexed, len(context))

    def prepare(self, context: list[int]) -> None:
        self._index(context)  # during prompt processing, not at the first step

    def _confident(self, n: int, gram: tuple[int, ...], token: int, params: LookupParams) -> bool:
        if n >= params.ngram:
            return True
        seen = self._seen[n].get(gram, {})
        hits = seen.get(token, 0)
        return hits >= params.lookup_min_hits and 2 * hits > sum(seen.values())

    def propose(self, context: list[int], k: int, params: LookupParams, rng: np.random.Generator) -> Proposal:
        self._index(context)
        end = len(context)
        for n in range(min(params.ngram, end - 1), 0, -1):
            gram = tuple(context[end - n:])
            j = self._last[n].get(gram)
            if j is None:
                continue
            if not self._confident(n, gram, context[j], params):
                return Proposal([], self.source)  # a shorter match has even less evidence
            return Proposal(context[j:j + k], self.source)
        return Proposal([], self.source)
