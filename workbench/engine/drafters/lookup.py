"""Prompt lookup (llama.cpp `lookup`, apoorvumang's prompt-lookup-decoding): find the last n tokens
earlier in prompt + output, for n from the configured size down to 1, and propose what followed their
most recent earlier occurrence. A dictionary from n-gram to position, extended as the context grows,
makes a proposal O(n) whatever the context length; a miss costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..events import Source
from ..settings import SPECS
from .base import Drafter, Proposal

MAX_NGRAM = int(SPECS["ngram"].hi or 8)  # the highest n-gram size the settings allow


@dataclass(frozen=True, slots=True)
class LookupParams:
    ngram: int = 3  # the longest n-gram matched (down to 1)


class LookupDrafter(Drafter):
    source = Source.LOOKUP
    Params = LookupParams

    def __init__(self) -> None:
        self.begin([])

    def begin(self, context: list[int]) -> None:
        # _last[n][ngram] = position of the token that followed the most recent occurrence of ngram
        self._last: list[dict[tuple[int, ...], int]] = [{} for _ in range(MAX_NGRAM + 1)]
        self._indexed = 1  # the n-grams ending before every position < _indexed are in _last

    def _index(self, context: list[int]) -> None:
        for j in range(self._indexed, len(context)):
            for n in range(1, min(MAX_NGRAM, j) + 1):
                self._last[n][tuple(context[j - n:j])] = j
        self._indexed = max(self._indexed, len(context))

    def propose(self, context: list[int], k: int, params: LookupParams, rng: np.random.Generator) -> Proposal:
        self._index(context)
        end = len(context)
        for n in range(min(params.ngram, end), 0, -1):
            j = self._last[n].get(tuple(context[end - n:]))
            if j is not None:
                return Proposal(context[j:j + k], self.source)
        return Proposal([], self.source)
