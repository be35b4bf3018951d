"""Choosing K (the draft length) each step.

`AdaptiveK` maximises expected tokens per second. It keeps, per draft position i, an estimate of the
probability that token i is accepted given that the tokens before it were, and per draft length k the
measured seconds a step with k drafted tokens costs (drafting plus the verify batch of k+1) on this
machine. The expected tokens of a step with K drafted are 1 + sum_{i<K} prod_{j<=i} a_j (the target
always yields one token), and K = argmax E(K) / cost(K).

It has to be right within a few dozen steps (a benchmark prompt is ~100 tokens), so:
- every estimate is a plain mean until it has 1/alpha samples and an EWMA after that (it learns fast,
  then follows drift);
- estimates with few samples lean on structure: a deep position's acceptance on the position before it,
  a drafted length's cost on a line fitted through all measured lengths (see `acceptance`, `costs`);
- a few seed steps lay out the cost line; after them, now and then one step tries a neighbour of the best
  K: every `explore_every` steps at first, less often while explorations keep confirming the choice;
- K stays within twice the longest draft measured so far (a trust region: far beyond the data every
  estimate is a guess, and one long wrong step costs many tokens);
- after a run of plain steps, a draft model must first evaluate the tokens it skipped. That catch-up is
  measured and charged to the plain steps, which it belongs to; when plain is best, the exploration step
  tries the best measured drafted length, not K=1, whose single token rarely earns the catch-up back.
This follows the verify-cost curve (a batch of 16 can cost 8x one token on a CPU) as well as acceptance.

`HeuristicK` is Hugging Face transformers' `num_assistant_tokens_schedule="heuristic"`: +2 after a step
whose drafts were all accepted, -1 otherwise. Both are only consulted when the user chose them; a K the
user sets by hand replaces them.
"""

from __future__ import annotations

import numpy as np

PRIOR_ACCEPTANCE = 0.6  # position 0's before anything is measured
POOLING = 1.0  # pseudo-samples by which a position's estimate leans on the one before it
COST_POOLING = 2.0  # pseudo-samples by which a drafted length's measured cost leans on the fitted line
PRIOR_SLOPE = 0.15  # a drafted token's cost relative to a plain step, before anything is measured
MIN_PLAIN_RUN = 4  # plain steps in a row after which a drafted step's extra cost is measured as catch-up
SEED_KS = (4, 1, 8, 2, 0)  # lengths tried first, one step each: a spread for the cost line to stand on, and a
# plain step last (often cheaper than that line suggests, having no draft model in it; last, so that a draft
# model does not start by catching up)


class AdaptiveK:
    def __init__(self, k_max: int = 64, alpha: float = 0.02, explore_every: int = 12) -> None:
        self.alpha = alpha
        self.explore_every = explore_every
        self.accept = np.zeros(k_max)  # measured acceptance per position (a mean, then an EWMA)
        self.tried = np.zeros(k_max, dtype=int)  # samples per position
        self.cost: dict[int, float] = {}
        self._cost_samples: dict[int, int] = {}
        self.catch_up = 0.0  # seconds per plain step that the next drafted step pays back (see observe)
        self._catch_up_samples = 0
        self._plain_run = 0  # plain steps since the last drafted one
        self.steps = 0
        self._explore_up = True
        self._interval = explore_every
        self._next_explore = len(SEED_KS) + explore_every
        self._explored_from: int | None = None  # the best K before the exploration step just taken

    def _step(self, samples: int) -> float:
        """Weight of the newest sample: a mean while samples are few, an EWMA after."""
        return max(self.alpha, 1.0 / samples)

    def acceptance(self, k_max: int) -> np.ndarray:
        """Estimated acceptance for positions 0..k_max-1. Deep positions are tried less often (only when
        every token before them was accepted), so each estimate leans on the previous position's by
        POOLING pseudo-samples: a position tried once or never reads like the one before it, instead of
        like a fixed prior that would keep K from ever growing there."""
        weight = np.minimum(self.tried[:k_max], 1.0 / self.alpha)
        a = np.empty(k_max)
        before = PRIOR_ACCEPTANCE
        for i in range(k_max):
            before = a[i] = (weight[i] * self.accept[i] + POOLING * before) / (weight[i] + POOLING)
        return a

    def costs(self, k_max: int) -> np.ndarray:
        """Seconds per step for k = 0..k_max. Drafted lengths follow a line fitted through the measured
        drafted ones (a plain step stays apart: it runs no drafter); each measured length's own mean leans on
        that line by COST_POOLING pseudo-samples, so one noisy step does not rule a length out for good."""
        ks = np.arange(k_max + 1, dtype=float)
        drafted = sorted((k, c) for k, c in self.cost.items() if k > 0)
        line = None
        if len(drafted) >= 2:
            x, y = np.array(drafted).T
            w = np.sqrt([self._cost_samples[int(k)] for k in x])
            slope, intercept = np.polyfit(x, y, 1, w=w)
            if slope > 0 and intercept > 0:
                line = intercept + slope * ks
        if line is None:
            known = sorted(self.cost.items())
            base = self.cost.get(0) or (known[0][1] / (1 + PRIOR_SLOPE * known[0][0]) if known else 1.0)
            line = base * (1 + PRIOR_SLOPE * ks)
        for k, c in self.cost.items():
            if 0 < k <= k_max:
                n = min(self._cost_samples[k], 1.0 / self.alpha)
                line[k] = (n * c + COST_POOLING * line[k]) / (n + COST_POOLING)
        if 0 in self.cost:
            line[0] = self.cost[0]
        line[0] += self.catch_up
        return line

    def rates(self, k_max: int) -> np.ndarray:
        """Expected tokens per second for K = 0..k_max."""
        k_max = min(k_max, len(self.accept))
        expected = 1.0 + np.concatenate(([0.0], np.cumsum(np.cumprod(self.acceptance(k_max)))))
        return expected / self.costs(k_max)

    def relative_cost(self) -> tuple[int, float] | None:
        """The drafted length measured most often and what a step of it costs in plain steps (None until a plain
        and a drafted step are both measured): the figure behind a decision to stop drafting."""
        drafted = [k for k in self.cost if k > 0]
        if not drafted or not self.cost.get(0):
            return None
        n = max(drafted, key=lambda k: self._cost_samples[k])
        return n, self.cost[n] / self.cost[0]

    def choose(self, k_max: int) -> int:
        self.steps += 1
        k_max = min(k_max, len(self.accept))
        if self.steps <= len(SEED_KS):  # first lay out the cost curve at a spread of lengths
            return min(SEED_KS[self.steps - 1], k_max)
        # a trust region: at most twice the longest draft measured so far. Far beyond the data both the
        # cost line and the acceptance estimates are guesses, and one long wrong step costs many tokens
        k_max = min(k_max, max(2 * max(self.cost, default=1), 2))
        rates = self.rates(k_max)
        best = int(np.argmax(rates))
        if self._explored_from is not None:
            # an exploration that confirmed the choice makes the next one come later (up to 4x), one that
            # changed it makes the next come soon: exploring is cheap with lookup, not with a draft model
            confirmed = best == self._explored_from
            self._interval = min(self._interval * 2, 4 * self.explore_every) if confirmed else self.explore_every
            self._next_explore = self.steps + self._interval
            self._explored_from = None
        if self.explore_every and self.steps >= self._next_explore and k_max > 0:
            self._explored_from = best
            if best == 0:  # the best drafted length already measured: its usual cost tells the catch-up apart
                measured = [k for k in self.cost if 0 < k <= k_max] or [1]
                return max(measured, key=lambda k: rates[k])
            self._explore_up = not self._explore_up
            return best + 1 if self._explore_up and best < k_max else best - 1
        return best

    def observe(self, drafted: int, accepted: int, seconds: float) -> None:
        for i in range(min(drafted, len(self.accept))):
            hit = 1.0 if i < accepted else 0.0
            self.tried[i] += 1
            self.accept[i] += self._step(self.tried[i]) * (hit - self.accept[i])
            if not hit:
                break  # later positions were not tried on their own merit
        if drafted and self._plain_run >= MIN_PLAIN_RUN and drafted in self.cost:
            # A drafted step after a run of plain ones costs more than usual: a draft model first evaluates
            # the tokens it skipped. That cost belongs to the plain steps, so it is charged to them (per
            # step) and kept out of this length's cost. Model-free drafters measure it as ~0.
            usual = self.costs(drafted)[drafted]
            extra = max(0.0, seconds - usual) / self._plain_run
            extra = min(extra, self.cost.get(0, extra))  # catching up a token never costs more than decoding it
            self._catch_up_samples += 1
            self.catch_up += self._step(self._catch_up_samples) * (extra - self.catch_up)
        else:
            n = self._cost_samples[drafted] = self._cost_samples.get(drafted, 0) + 1
            old = self.cost.get(drafted, seconds)
            self.cost[drafted] = old + self._step(n) * (seconds - old)
        self._plain_run = 0 if drafted else self._plain_run + 1


class HeuristicK:
    def __init__(self, start: int = 5) -> None:
        self.k = start

    def choose(self, k_max: int) -> int:
        self.k = max(1, min(self.k, k_max))
        return self.k

    def observe(self, drafted: int, accepted: int, seconds: float) -> None:
        if drafted:
            self.k = self.k + 2 if accepted == drafted else max(1, self.k - 1)
