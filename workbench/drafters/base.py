"""The one small interface every drafter implements.

The session owns the context (prompt + emitted tokens) and only ever appends to it between `reset()`
calls; a drafter reads it in `propose` and may index the new part lazily, so drafters that are not in
use cost nothing and can be switched to mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..engine.events import Source
from ..engine.settings import Settings


@dataclass(slots=True)
class Proposal:
    tokens: list[int] = field(default_factory=list)
    source: Source = Source.TARGET
    # The draft distribution q for each token when the drafter sampled from one (a draft model at
    # temperature > 0); None means every token is a point mass, as for lookup and suffix drafts.
    q: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.tokens)


class Drafter(Protocol):
    source: Source

    def reset(self) -> None:
        """A new request starts: forget the request's context (a cross-request memory may stay)."""

    def propose(self, context: list[int], k: int, settings: Settings, rng: np.random.Generator) -> Proposal:
        """Up to k tokens that may follow `context`."""

    def finish(self, context: list[int], n_prompt: int) -> None:
        """The request ended; context[n_prompt:] is what it produced."""
