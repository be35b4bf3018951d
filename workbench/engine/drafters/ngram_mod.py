"""llama.cpp's `ngram-mod` (common/ngram-mod.cpp and its speculative.cpp implementation), step for step.

A fixed table of 4M slots maps the hash of an n_match-token window to the token that followed it (a later
window with the same slot overwrites it). To draft, the window ending with the sampled token is hashed,
the token found is appended and the window slides, up to n_max tokens; a walk that breaks off before n_min
tokens drafts nothing. The table is emptied when it is more than a quarter full at a request's start,
and after 5 drafts in a row with under a quarter of their tokens accepted. Made for long verbatim
repeats: with the defaults (24/48/64) it drafts rarely, and long when it does.

The hash is llama.cpp's polynomial (res = res * 6364136223846793005 + token, 64-bit), computed as a
rolling hash so that a step costs O(1) per drafted token instead of O(n_match); a dict stands in for the
4M-entry array (same slots, same overwrites, memory only for what is used).
"""

from __future__ import annotations

import numpy as np

from ..events import Source
from .base import Drafter, Proposal, settings_params

SIZE = 4 * 1024 * 1024  # slots in llama.cpp's table
MULT = 6364136223846793005
MASK = (1 << 64) - 1
OCCUPANCY_RESET = 0.25  # at begin(): a fuller table is emptied
LOW_ACCEPTANCE = 0.25  # a draft with a smaller accepted fraction counts as low
LOW_STREAK = 5  # this many low drafts in a row empty the table


@settings_params
class ModParams:
    mod_n_match: int
    mod_n_min: int
    mod_n_max: int


class NgramModDrafter(Drafter):
    source = Source.NGRAM_MOD
    Params = ModParams

    def __init__(self) -> None:
        self.n = 0
        self.table: dict[int, int] = {}
        self.resets = 0  # how often the table was emptied (occupancy or a low-acceptance streak)
        self.begin([])

    def cap(self, params: ModParams, k: int) -> int:
        return params.mod_n_max

    # --- llama.cpp's common_ngram_mod --------------------------------------------------------
    def _hash(self, window: list[int]) -> int:
        res = 0
        for t in window:
            res = (res * MULT + t) & MASK
        return res

    def _add_all(self, tokens: list[int], start: int, stop: int) -> None:
        """add() for the windows starting at start..stop-1: slot(window) = the token after it."""
        n, table = self.n, self.table
        if stop <= start:
            return
        top = pow(MULT, n - 1, 1 << 64)  # the weight of a window's first token, to slide the hash
        h = self._hash(tokens[start:start + n])
        for i in range(start, stop):
            table[h % SIZE] = tokens[i + n]
            if i + 1 < stop:
                h = ((h - tokens[i] * top) * MULT + tokens[i + n]) & MASK

    def reset(self) -> None:
        self.table = {}
        self.resets += 1

    def forget(self) -> None:
        """Empty the table: it outlives requests (as llama.cpp's, for a server's lifetime), so a benchmark that
        repeats a prompt would otherwise draft the earlier repetition's output."""
        self.table = {}

    # --- the implementation -------------------------------------------------------------------
    def _use(self, n: int) -> None:
        if n != self.n:  # a new window size is a new table (llama.cpp builds it at start-up)
            self.n, self.table = n, {}
            self._i_last = 0

    def begin(self, context: list[int]) -> None:
        self._prompt_pending = list(context)  # added at the first proposal, when n_match is known
        self._i_last = 0
        self._n_draft_last = 0
        self._n_low = 0

    def _begin_now(self, prompt: list[int]) -> None:
        n = self.n
        self._i_last = 0
        if len(prompt) < n:
            return
        self._add_all(prompt, 0, len(prompt) - n)
        self._i_last = len(prompt) - n
        if len(self.table) / SIZE > OCCUPANCY_RESET:
            self.reset()

    def propose(self, context: list[int], k: int, params: ModParams, rng: np.random.Generator) -> Proposal:
        self._use(params.mod_n_match)
        if self._prompt_pending is not None:
            # begin() in llama.cpp sees the prompt; ours sees it with its last token, which is the sampled one
            self._begin_now(self._prompt_pending[:-1])
            self._prompt_pending = None
        self._n_draft_last = 0
        n = self.n
        cur_len = len(context) - 1
        if cur_len < n:
            return Proposal([], self.source)
        if self._i_last + 32 < cur_len:  # new windows are added in chunks
            self._add_all(context, self._i_last, cur_len - n)
            self._i_last = cur_len - n
        window = context[cur_len - n + 1:]  # the last n-1 tokens of the prompt and the sampled token
        h = self._hash(window)
        top = pow(MULT, n - 1, 1 << 64)
        draft: list[int] = []
        for i in range(params.mod_n_max):
            token = self.table.get(h % SIZE)
            if token is None:
                if i < params.mod_n_min:
                    return Proposal([], self.source)
                break
            draft.append(token)
            h = ((h - window[i] * top) * MULT + token) & MASK
            window.append(token)
        self._n_draft_last = len(draft)
        return Proposal(draft[:k], self.source)

    def accept(self, n_accepted: int, is_other: bool) -> None:
        if is_other or self._n_draft_last == 0:
            return
        if n_accepted / self._n_draft_last < LOW_ACCEPTANCE:
            self._n_low += 1
            if self._n_low >= LOW_STREAK:
                self.reset()
                self._n_low = 0
                self._i_last = 0
        else:
            self._n_low = 0
