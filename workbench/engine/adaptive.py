"""Choosing K (the draft length) each step.

`AdaptiveK` maximises expected tokens per second. It keeps, per draft position i, an EWMA of the
probability that token i is accepted given that the tokens before it were, and per draft length k an
EWMA of the measured seconds a step with k drafted tokens costs (drafting plus the verify batch of k+1)
on this machine. The expected tokens of a step with K drafted are 1 + sum_{i<K} prod_{j<=i} a_j (the
target always yields one token), and K = argmax E(K) / cost(K). Lengths not measured yet are priced
from a straight line fitted to the measured ones (or a prior when there are fewer than two), and every
`explore_every` steps a neighbour of the best K is tried, so the cost curve is learnt where it matters.
This follows the verify-cost curve (a batch of 16 can cost 8x one token on a CPU) as well as acceptance.

`HeuristicK` is Hugging Face transformers' `num_assistant_tokens_schedule="heuristic"`: +2 after a step
whose drafts were all accepted, -1 otherwise. Both are only consulted when the user chose them; a K the
user sets by hand replaces them.
"""

from __future__ import annotations

import numpy as np

PRIOR_ACCEPTANCE = 0.6
PRIOR_SLOPE = 0.15  # a drafted token's cost relative to a plain step, before anything is measured
SEED_KS = (0, 1, 4, 2, 8, 3, 16)  # lengths tried first, one step each: a plain step (often cheaper than the
# line through drafted steps suggests, having no draft model in it) and a spread for the cost line to stand on


class AdaptiveK:
    def __init__(self, k_max: int = 64, alpha: float = 0.1, explore_every: int = 12) -> None:
        self.alpha = alpha
        self.explore_every = explore_every
        self.accept = np.full(k_max, PRIOR_ACCEPTANCE)
        self.cost: dict[int, float] = {}
        self.steps = 0
        self._explore_up = True

    def costs(self, k_max: int) -> np.ndarray:
        """Seconds per step for k = 0..k_max: measured where known, else from a line through the measured."""
        ks = np.arange(k_max + 1, dtype=float)
        known = sorted(self.cost.items())
        line = None
        if len(known) >= 2:
            x, y = np.array(known).T
            slope, intercept = np.polyfit(x, y, 1)
            if slope > 0 and intercept > 0:
                line = intercept + slope * ks
        if line is None:
            base = self.cost.get(0) or (known[0][1] / (1 + PRIOR_SLOPE * known[0][0]) if known else 1.0)
            line = base * (1 + PRIOR_SLOPE * ks)
        for k, c in known:
            if k <= k_max:
                line[k] = c
        return line

    def best(self, k_max: int) -> int:
        k_max = min(k_max, len(self.accept))
        expected = 1.0 + np.concatenate(([0.0], np.cumsum(np.cumprod(self.accept[:k_max]))))
        return int(np.argmax(expected / self.costs(k_max)))

    def choose(self, k_max: int) -> int:
        self.steps += 1
        if self.steps <= len(SEED_KS):  # first lay out the cost curve at a spread of lengths
            return min(SEED_KS[self.steps - 1], k_max, len(self.accept))
        best = self.best(k_max)
        if self.explore_every and self.steps % self.explore_every == 0:
            self._explore_up = not self._explore_up
            neighbour = best + 1 if self._explore_up else best - 1
            if 0 <= neighbour <= min(k_max, len(self.accept)):
                return neighbour
        return best

    def observe(self, drafted: int, accepted: int, seconds: float) -> None:
        a = self.alpha
        for i in range(min(drafted, len(self.accept))):
            hit = 1.0 if i < accepted else 0.0
            self.accept[i] += a * (hit - self.accept[i])
            if not hit:
                break  # later positions were not tried on their own merit
        old = self.cost.get(drafted)
        self.cost[drafted] = seconds if old is None else old + a * (seconds - old)


class HeuristicK:
    def __init__(self, start: int = 5) -> None:
        self.k = start

    def choose(self, k_max: int) -> int:
        self.k = max(1, min(self.k, k_max))
        return self.k

    def observe(self, drafted: int, accepted: int, seconds: float) -> None:
        if drafted:
            self.k = self.k + 2 if accepted == drafted else max(1, self.k - 1)
