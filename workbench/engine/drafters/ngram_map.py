"""llama.cpp's `ngram-simple`, `ngram-map-k` and `ngram-map-k4v` (common/ngram-map.cpp), step for step.

All three take the key: the last n-1 tokens before the one just sampled, plus that token, and look for it
earlier in the context (positions from 1, never 0, and ending early enough that m tokens follow).
- ngram-simple: the most recent earlier occurrence; drafts the m tokens after it, but only when at least
  n of them exist. No memory.
- ngram-map-k: the occurrence llama.cpp's position hash holds (the most recent one when the hash was
  first filled; a slot once filled keeps its position), else the most recent not yet hashed; the draft is
  capped at what was accepted the last time this key drafted (m at first): a key whose draft was refused
  at its first token drafts nothing again, llama.cpp's own confidence gate.
- ngram-map-k4v: counts up to 4 distinct m-token continuations per key; drafts only when the key has been
  met `min_hits` times and its most frequent continuation is at least twice as frequent as the others
  together.

Where llama.cpp scans the history backwards, a dictionary from key to position gives the same position
in O(n) per step (the scan would cost milliseconds of Python at 4,000 tokens). Mapping of names: the
session's `context` is llama.cpp's `prompt` (every token so far but the last) plus `id_last` (the last).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..events import Source
from .base import Drafter, Proposal, settings_params

MAX_VALUES = 4  # COMMON_NGRAM_MAX_VALUES
MAX_VALUE_COUNT = 16380  # COMMON_NGRAM_MAX_VALUE_COUNT


class _KeyIndex:
    """Key n-gram -> the most recent position where it starts, for every start in [1, limit] (indexed
    lazily as the context grows): the answer of llama.cpp's backwards scan."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pos: dict[tuple[int, ...], int] = {}
        self.done = 0  # positions 1..done are indexed

    def extend(self, tokens: list[int], limit: int) -> None:
        n, pos = self.n, self.pos
        for j in range(self.done + 1, limit + 1):
            pos[tuple(tokens[j:j + n])] = j
        self.done = max(self.done, limit)


@settings_params
class SimpleParams:
    simple_n: int
    simple_m: int


class NgramSimpleDrafter(Drafter):
    source = Source.NGRAM_SIMPLE
    Params = SimpleParams

    def __init__(self) -> None:
        self._index: _KeyIndex | None = None

    def begin(self, context: list[int]) -> None:
        self._index = None

    def cap(self, params: SimpleParams, k: int) -> int:
        return params.simple_m

    def propose(self, context: list[int], k: int, params: SimpleParams, rng: np.random.Generator) -> Proposal:
        n, m = params.simple_n, params.simple_m
        inp, cur_len = context[:-1], len(context) - 1
        if cur_len <= n + m + 1:
            return Proposal([], self.source)
        if self._index is None or self._index.n != n:
            self._index = _KeyIndex(n)
        self._index.extend(context, cur_len - n - 1)  # llama.cpp scans j = cur_len - n - 1 down to 1
        match = self._index.pos.get(tuple(context[-n:]))
        if match is None:
            return Proposal([], self.source)
        copy = min(m, cur_len - (match + n))
        if copy < n:  # llama.cpp: fewer than n tokens to copy is no draft
            return Proposal([], self.source)
        return Proposal(inp[match + n:match + n + min(copy, k)], self.source)


@dataclass(slots=True)
class _Value:
    idx: int = 0  # where this continuation starts in the context (0: an unused slot)
    num: int = 0  # how often it followed the key
    n_accepted: int = 0  # accepted at this continuation's last draft (m at first)


@dataclass(slots=True)
class _Key:
    idx: int  # where the key was first found
    stat_idx: int = 0  # continuations are counted up to here
    num: int = 0  # how often the key was looked up and found
    values: list[_Value] = field(default_factory=list)


@settings_params
class MapKParams:
    map_k_n: int
    map_k_m: int
    map_k_min_hits: int


@settings_params
class MapK4vParams:
    map_k4v_n: int
    map_k4v_m: int
    map_k4v_min_hits: int


class NgramMapDrafter(Drafter):
    """ngram-map-k (key_only) and ngram-map-k4v (four values per key), as common_ngram_map."""

    key_only: ClassVar[bool]

    def __init__(self) -> None:
        self.begin([])

    def _sizes(self, params: MapKParams | MapK4vParams) -> tuple[int, int, int]:
        if isinstance(params, MapKParams):
            return params.map_k_n, params.map_k_m, params.map_k_min_hits
        return params.map_k4v_n, params.map_k4v_m, params.map_k4v_min_hits

    def cap(self, params: MapKParams | MapK4vParams, k: int) -> int:
        return self._sizes(params)[1]

    def begin(self, context: list[int]) -> None:
        # A request starts afresh (llama.cpp keeps a slot's map across requests that share a prefix).
        self._begin = max(len(context) - 1, 0)  # llama.cpp's size_last_begin: the prompt but its last token
        self._sizes_in_use: tuple[int, int] | None = None
        self._hash: dict[tuple[int, ...], int] = {}  # llama.cpp's key_map (its rare slot collisions aside)
        self._hashed = 0  # key_map_last_idx: starts up to here are hashed
        self._keys: dict[tuple[int, ...], _Key] = {}
        self._starts: dict[tuple[int, ...], list[int]] = {}  # key -> its starts, for the value counts (k4v)
        self._starts_done = 0
        self._last: tuple[_Key, int] | None = None  # the key and value slot of the last draft made

    def _find(self, inp: list[int], key: tuple[int, ...], n: int, m: int, cur_len: int) -> int | None:
        """common_ngram_map_draft's search: the hashed start if it leaves room, else the first match among
        the starts not hashed yet, newest first, prompt part before generated part; those are hashed then
        (a start already in the hash keeps its old position). Starts within n+m+1 of the prompt's end are
        never looked at, as in llama.cpp."""
        limit = cur_len - n - m - 1
        hashed = self._hash.get(key)
        match = hashed if hashed is not None and hashed < limit else None
        fresh = [*range(self._begin - n - m - 1, self._hashed, -1),
                 *range(limit, max(self._begin, self._hashed), -1)]
        for j in fresh:
            gram = tuple(inp[j:j + n])
            if match is None and gram == key:
                match = j
            self._hash.setdefault(gram, j)
        self._hashed = max(self._hashed, limit)
        return match

    def propose(self, context: list[int], k: int, params: MapKParams | MapK4vParams,
                rng: np.random.Generator) -> Proposal:
        self._last = None
        n, m, min_hits = self._sizes(params)
        if self._sizes_in_use != (n, m):  # new sizes: llama.cpp would build a new map
            begin = self._begin
            self.begin([])
            self._begin, self._sizes_in_use = begin, (n, m)
        inp, cur_len = context, len(context) - 1  # inp[:cur_len] is llama.cpp's prompt; inp[cur_len] the sampled
        if cur_len < 2 * n + m:
            return Proposal([], self.source)
        key = tuple(context[-n:])
        match = self._find(inp, key, n, m, cur_len)
        if match is None:
            return Proposal([], self.source)

        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = _Key(match, values=[_Value(n_accepted=m) for _ in range(MAX_VALUES)])
        entry.num = min(entry.num + 1, MAX_VALUE_COUNT)
        if self.key_only:
            self._last = (entry, 0)
            return Proposal(inp[match + n:match + n + min(m, entry.values[0].n_accepted, k)], self.source)
        if entry.num < min_hits:
            return Proposal([], self.source)
        self._count_values(entry, key, inp, match, n, m)
        counts = [v.num for v in entry.values]
        best = max(range(MAX_VALUES), key=lambda v: (counts[v], -v))  # the first slot of the highest count
        if counts[best] == 0:
            best = 0
        others = sum(counts) - counts[best]
        if others > 0 and counts[best] < 2 * others:
            return Proposal([], self.source)  # no continuation dominates: no draft
        self._last = (entry, best)
        return Proposal(inp[match + n:match + n + min(m, entry.values[best].n_accepted, k)], self.source)

    def _count_values(self, entry: _Key, key: tuple[int, ...], inp: list[int], match: int, n: int, m: int) -> None:
        """Count the continuations after each start of the key in [stat_idx, match] (both ends included,
        as llama.cpp: the start at `match` is counted again at the key's next draft)."""
        for j in range(self._starts_done, len(inp) - n + 1):
            self._starts.setdefault(tuple(inp[j:j + n]), []).append(j)
        self._starts_done = max(self._starts_done, len(inp) - n + 1)
        for i in self._starts.get(key, ()):
            if i < entry.stat_idx or i > match:
                continue
            start = i + n
            for value in entry.values:
                if value.idx == 0:  # a free slot: a new continuation
                    value.idx, value.num, value.n_accepted = start, 0, m
                elif inp[start:start + m] != inp[value.idx:value.idx + m]:
                    continue
                value.num = min(value.num + 1, MAX_VALUE_COUNT)
                break
        entry.stat_idx = match

    def accept(self, n_accepted: int, is_other: bool) -> None:
        if is_other or self._last is None:
            return
        entry, slot = self._last
        entry.values[slot].n_accepted = n_accepted


class NgramMapKDrafter(NgramMapDrafter):
    source = Source.NGRAM_MAP_K
    Params = MapKParams
    key_only = True


class NgramMapK4vDrafter(NgramMapDrafter):
    source = Source.NGRAM_MAP_K4V
    Params = MapK4vParams
    key_only = False
