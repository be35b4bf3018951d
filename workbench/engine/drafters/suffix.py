"""SuffixDecoding (Oliaro et al., NeurIPS 2025; ArcticInference's suffix cache), written for token ids.

Two depth-limited suffix tries count every substring of up to `max_depth` tokens: a global one over the
outputs of earlier requests of this session (FIFO-evicted) and one over the current request (prompt +
output), extended token by token. To propose, each suffix of the context that the trie holds (match
length m) is followed down its most frequent children while the path probability (product of
child count / continuations of the parent) stays at or above `min_prob`, for at most factor * m tokens;
the proposal whose summed path probability (its expected accepted length) is highest wins.

Written here rather than taken from a library: ArcticInference's C++ suffix tree needs torch and vLLM,
and a dictionary trie of bounded depth is small, fast enough (tens of microseconds per token) and
easy to test.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..events import Source
from .base import Drafter, Proposal, settings_params


class _Node:
    __slots__ = ("children", "count", "cont")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.count = 0  # occurrences of the path from the root to here
        self.cont = 0  # of those, how many a next token followed (the sum of the children's counts)


class SuffixTrie:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.root = _Node()
        self._open: list[_Node] = []  # nodes of the suffixes of the text appended so far, shorter than max_depth

    def append(self, token: int) -> None:
        """Extend every open suffix (and the empty one) by `token`."""
        grown = []
        for node in [self.root, *self._open]:
            child = node.children.get(token)
            if child is None:
                child = node.children[token] = _Node()
            child.count += 1
            node.cont += 1
            grown.append(child)
        self._open = grown[: self.max_depth - 1]  # a suffix at max_depth cannot grow further

    def add(self, tokens: list[int]) -> None:
        """Count a whole sequence (its substrings start fresh: nothing links it to text added before)."""
        self._open = []
        for t in tokens:
            self.append(t)
        self._open = []

    def remove(self, tokens: list[int]) -> None:
        """Undo `add(tokens)`."""
        for start in range(len(tokens)):
            node = self.root
            for t in tokens[start:start + self.max_depth]:
                child = node.children[t]
                node.cont -= 1
                child.count -= 1
                if child.count == 0:
                    del node.children[t]
                    break
                node = child

    def propose(self, context: list[int], k: int, factor: float, min_prob: float) -> tuple[list[int], float]:
        """The best-scoring continuation of `context`, and its score."""
        best: list[int] = []
        best_score = 0.0
        longest = min(self.max_depth - 1, len(context))
        for m in range(1, longest + 1):
            node: _Node | None = self.root
            for t in context[len(context) - m:]:
                node = node.children.get(t)
                if node is None:
                    break
            if node is None:
                break  # a suffix that is absent has no longer suffix present either
            tokens, score = self._follow(node, min(k, max(1, int(factor * m))), min_prob)
            if score > best_score:
                best, best_score = tokens, score
        return best, best_score

    @staticmethod
    def _follow(node: _Node, limit: int, min_prob: float) -> tuple[list[int], float]:
        tokens: list[int] = []
        prob, score = 1.0, 0.0
        while len(tokens) < limit and node.cont:
            token, child = max(node.children.items(), key=lambda item: item[1].count)
            prob *= child.count / node.cont
            if prob < min_prob:
                break
            tokens.append(token)
            score += prob
            node = child
        return tokens, score


@settings_params
class SuffixParams:
    # Draft while the path probability stays above this. It is the gate against drafting without evidence:
    # a verify slot costs about 0.3 of a decode step on a CPU (a batch of 8 costs 3 steps), so a token less
    # likely than that to be accepted loses time on average.
    suffix_min_prob: float


class SuffixDrafter(Drafter):
    source = Source.SUFFIX
    Params = SuffixParams

    def __init__(self, max_depth: int = 64, factor: float = 1.0, max_outputs: int = 256) -> None:
        self.max_depth = max_depth
        self.factor = factor
        self.max_outputs = max_outputs
        self.forget()
        self.begin([])

    def forget(self) -> None:
        """Empty the global memory of earlier outputs."""
        self.global_trie = SuffixTrie(self.max_depth)
        self._outputs: deque[list[int]] = deque()

    def begin(self, context: list[int]) -> None:
        self.request_trie = SuffixTrie(self.max_depth)
        self._indexed = 0

    def _index(self, context: list[int]) -> None:
        for t in context[self._indexed:]:
            self.request_trie.append(t)
        self._indexed = len(context)

    def prepare(self, context: list[int]) -> None:
        """Index the prompt during prompt processing (half a second for 4,000 tokens), not at the first step."""
        self._index(context)

    def propose(self, context: list[int], k: int, params: SuffixParams, rng: np.random.Generator) -> Proposal:
        self._index(context)
        if k <= 0:
            return Proposal([], self.source)
        min_prob = params.suffix_min_prob
        mine, mine_score = self.request_trie.propose(context, k, self.factor, min_prob)
        past, past_score = self.global_trie.propose(context, k, self.factor, min_prob)
        return Proposal(past if past_score > mine_score else mine, self.source)

    def finish(self, context: list[int], n_prompt: int) -> None:
        output = list(context[n_prompt:])
        if not output:
            return
        self.global_trie.add(output)
        self._outputs.append(output)
        while len(self._outputs) > self.max_outputs:
            self.global_trie.remove(self._outputs.popleft())
