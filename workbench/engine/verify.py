"""Acceptance rules: which drafted tokens the target keeps, and what it emits after them.

Pure functions over token ids and numpy distributions, so they are tested on synthetic data
(tests/test_verify.py) apart from any model.

Greedy (temperature 0): accept while the draft equals the target's argmax, then emit the target's
argmax at the first mismatch (a correction) or after the last draft (a bonus). Every emitted token is
then the argmax of the logits computed for its position; whether those equal plain decoding's logits
depends on the kernels' batch invariance, which is measured (engine/agreement.py), not assumed.

Sampling: lossless speculative sampling (Leviathan et al. 2023, Chen et al. 2023). Draft token x is kept
with probability min(1, p(x)/q(x)); on rejection the target's token is drawn from normalize(max(0, p - q)).
For a drafter without a distribution (lookup, suffix, a greedy draft), q is a point mass on x: x is kept
with probability p(x) and the residual is p with x removed. Either way the emitted tokens follow p exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .sampling import sample


def greedy_verify(draft: Sequence[int], target_argmax: Sequence[int]) -> tuple[int, int]:
    """(number of accepted draft tokens, the target's token that follows them).

    `target_argmax[i]` is the target's argmax after the context plus draft[:i]; it has len(draft) + 1 entries.
    """
    n = 0
    while n < len(draft) and draft[n] == target_argmax[n]:
        n += 1
    return n, int(target_argmax[n])


def accept_or_resample(x: int, p: np.ndarray, q: np.ndarray | None, rng: np.random.Generator) -> tuple[bool, int]:
    """One speculative-sampling decision for draft token x: (kept?, the token emitted at this position)."""
    qx = 1.0 if q is None else float(q[x])
    px = float(p[x])
    if qx > 0.0 and rng.random() < min(1.0, px / qx):
        return True, x
    if q is None:
        residual = p.copy()
        residual[x] = 0.0
    else:
        residual = np.maximum(p - q, 0.0)
    if residual.sum() <= 0.0:  # p == q up to rounding: any draw from p is then correct
        residual = p
    return False, sample(residual, rng)


def speculative_verify(
    draft: Sequence[int],
    p_row: Callable[[int], np.ndarray],
    q_rows: Sequence[np.ndarray] | None,
    rng: np.random.Generator,
) -> tuple[int, int]:
    """Sampling counterpart of greedy_verify. `p_row(i)` gives the target distribution at draft position i
    (computed lazily: rows after a rejection are never needed)."""
    for i, x in enumerate(draft):
        kept, token = accept_or_resample(x, p_row(i), None if q_rows is None else q_rows[i], rng)
        if not kept:
            return i, token
    return len(draft), sample(p_row(len(draft)), rng)
