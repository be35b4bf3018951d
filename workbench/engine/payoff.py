"""Why a configuration pays, or not: the arithmetic of speculative decoding with this machine's measured costs.

A verify step of K drafted tokens runs a batch of K + 1 through the target. On a GPU that costs about one plain
step whatever K is; on a CPU it does not (SmolLM2-135M Q4_1 at 2 threads: a batch of 9 costs 4.4 plain steps, in
F16 3.1), and that one fact of the machine and the target's quantisation decides how good a drafter must be.

Leviathan et al. (2023, "Fast Inference from Transformers via Speculative Decoding") give the expected tokens a
step yields when each drafted token is accepted with probability a, independently: (1 - a^(K+1)) / (1 - a), and
the speedup as that over the step's cost c*K + 1, with c a constant draft-to-target cost ratio. Here the cost is
measured instead: V(K+1) plain steps for the verify batch (V(1) = 1) plus K drafted tokens at d plain steps each,
so the predicted speedup for K is E(K) / (V(K+1) + K*d), and K pays from the acceptance where E(K) equals that
cost (the break-even). With measured acceptance by position the expectation needs no independence: E(K) = 1 +
sum of P(the first i tokens all accepted) for i = 1..K, which is what `Stats.position_acceptance` measures.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    """What steps cost on this machine and target, in plain decoding steps."""

    verify: dict[int, float]  # batch width (drafted tokens + 1) -> its verify cost in plain steps; width 1 is 1.0
    draft_token: float = 0.0  # the drafting time of one drafted token, in plain steps
    plain_seconds: float = 0.0  # what a plain step (a batch of 1) takes

    def step(self, k: int) -> float | None:
        """A step drafting k tokens, in plain steps (None: a batch of k + 1 has not been measured)."""
        width = self.verify.get(k + 1)
        return None if width is None else width + k * self.draft_token


def costs(verify_seconds: dict[int, list[float]], draft_seconds: float = 0.0, drafted: int = 0) -> Costs | None:
    """Costs from measured verify times per batch width (medians, as one slow step says little) and the drafting
    time spent on `drafted` tokens; None while no plain step (width 1) has been measured to count in."""
    plain = verify_seconds.get(1)
    if not plain:
        return None
    unit = statistics.median(plain)
    if unit <= 0:
        return None
    widths = {w: statistics.median(times) / unit for w, times in sorted(verify_seconds.items()) if times}
    return Costs(widths, draft_seconds / drafted / unit if drafted else 0.0, unit)


def expected_tokens(accepted_through: list[float], k: int) -> float:
    """Tokens a step drafting k yields: its own token plus each drafted one the target accepts, where
    accepted_through[i] is the probability that the first i + 1 drafted tokens are all accepted."""
    return 1.0 + sum(accepted_through[:k])


def independent(acceptance: float, k: int) -> list[float]:
    """accepted_through for tokens accepted independently with probability `acceptance` (Leviathan et al.)."""
    return [acceptance ** (i + 1) for i in range(k)]


def predicted_speedup(c: Costs, accepted_through: list[float], k: int) -> float | None:
    """Tokens per plain step's time for a step drafting k (None: its cost or its acceptance is not measured)."""
    cost = c.step(k)
    if cost is None or k > len(accepted_through) or cost <= 0:
        return None
    return expected_tokens(accepted_through, k) / cost


def break_even(c: Costs, k: int) -> float | None:
    """The acceptance (tokens accepted independently) from which drafting k tokens pays on these costs: 0 when
    any pays, None when none can (the step costs k + 1 plain steps or more, or it is not measured)."""
    cost = c.step(k)
    if cost is None or cost >= k + 1:
        return None
    if cost <= 1:
        return 0.0
    lo, hi = 0.0, 1.0  # expected_tokens grows with the acceptance, from 1 to k + 1: bisect
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_tokens(independent(mid, k), k) < cost else (lo, mid)
    return (lo + hi) / 2
