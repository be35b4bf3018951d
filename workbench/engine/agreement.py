"""Agreement with plain decoding: what can be claimed, measured rather than assumed.

The guarantee the engine gives is per position: every emitted token is the target's own choice (at T=0 its
argmax) from the logits computed for that position in the verify batch. It does not follow that the output
equals plain one-token-at-a-time decoding: llama.cpp's CPU kernels are not batch-invariant (a matrix
product over a batch of 1 and over a batch of 9 take different code paths and round differently), so the
logits of a position can differ slightly with the batch it was computed in; where the target's top two
candidates are closer than that difference, the argmax flips and the texts part. So agreement is reported:
identical, or the first differing token with the plain run's top-2 logit margin there (a small margin says
"a near tie flipped by rounding", a large one would say "a bug").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .models import Model


@dataclass(frozen=True, slots=True)
class Agreement:
    tokens: int  # tokens compared (the shorter of the two outputs)
    first_diff: int | None = None  # the position of the first differing token, None if identical
    plain_token: int | None = None
    other_token: int | None = None
    margin: float | None = None  # the plain run's top-2 logit margin at first_diff
    generated: int | None = None  # the compared output's own length (None: the same as `tokens`)

    @property
    def identical(self) -> bool:
        return self.first_diff is None

    def describe(self) -> str:
        """The claim as far as its evidence goes: a baseline shorter than the output covers only its start."""
        if self.identical:
            if self.generated is not None and self.generated > self.tokens:
                return (f"first {self.tokens} tokens identical to plain decoding (of {self.generated}: "
                        "plain decoding was measured that far)")
            return f"identical to plain decoding (all {self.tokens} tokens)"
        margin = f" (plain decoding's top-2 logit margin there: {self.margin:.3f})" if self.margin is not None else ""
        return f"differs from plain decoding from token {self.first_diff} on{margin}"

    def to_json(self) -> dict[str, object]:
        return {"identical": self.identical, "tokens": self.tokens, "first_diff": self.first_diff,
                "plain_token": self.plain_token, "token": self.other_token, "margin": self.margin,
                "generated": self.generated}


def first_difference(plain: list[int], other: list[int]) -> int | None:
    """The first position where the outputs differ (within the shorter one), else None."""
    n = min(len(plain), len(other))
    return next((i for i in range(n) if plain[i] != other[i]), None)


def top2_margin(logits: np.ndarray) -> float:
    top2 = np.partition(logits, -2)[-2:]
    return float(top2[1] - top2[0])


def plain_margin(target: Model, prompt: list[int], output: list[int], position: int) -> float:
    """The top-2 margin of the target's logits at output[position], computed as plain decoding computes them
    (the prompt in one batch, then one token at a time). Costs `position` decoding steps; leaves the target's
    cache holding what it evaluated (the caller's session re-syncs its cache)."""
    target.truncate(0)
    target.eval(prompt[:-1])
    logits = target.eval([prompt[-1]], logits="last")[-1]
    for token in output[:position]:
        logits = target.eval([token], logits="last")[-1]
    return top2_margin(np.asarray(logits))


def compare(plain: list[int], other: list[int], margin: float | None = None) -> Agreement:
    i = first_difference(plain, other)
    n = min(len(plain), len(other))
    if i is None:
        return Agreement(n, generated=len(other))
    return Agreement(n, i, plain[i], other[i], margin, generated=len(other))
