"""The one drafting interface every drafter implements (after llama.cpp's `common/speculative.cpp`:
begin / draft / accept(is_other)).

The session owns the context (prompt + emitted tokens) and only ever appends to it between `begin()`
calls; a drafter reads it in `propose` and may index the new part lazily, so drafters that are not in
use cost nothing and can be switched to mid-run. Each hook but `propose` has a no-op default, so a
drafter implements only what it needs. Each drafter reads a small parameter object of its own (`Params`),
a slice of the settings taken by field name, never the whole Settings; `settings_params` gives its fields
the settings table's defaults, so they are written once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from ..events import Source

if TYPE_CHECKING:
    import numpy as np

    from ..gate import DraftGate
    from ..settings import Settings


@dataclass(slots=True)
class Proposal:
    tokens: list[int] = field(default_factory=list)
    source: Source = Source.TARGET
    # The draft distribution q for each token when the drafter sampled from one (a draft model at
    # temperature > 0); None means every token is a point mass, as for lookup and suffix drafts.
    q: list[np.ndarray] | None = None
    # a draft translated from another vocabulary: how many of the draft model's own tokens it came from
    n_source: int = 0

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True, slots=True)
class NoParams:
    pass


def settings_params(cls: type) -> Any:
    """A frozen parameter dataclass whose fields, named like settings, default to the settings table's values."""
    from ..settings import SPECS

    for name in cls.__dict__.get("__annotations__", {}):
        setattr(cls, name, SPECS[name].default)
    return dataclass(frozen=True, slots=True)(cls)


def settings_slice(params_type: type, settings: Settings) -> Any:
    """A drafter's parameter object filled from the settings fields of the same names."""
    return params_type(**{f.name: getattr(settings, f.name) for f in fields(params_type)})


class Drafter(ABC):
    """Base of all drafters: the hooks the session calls, each a no-op unless a drafter needs it."""

    source: ClassVar[Source]
    Params: ClassVar[type] = NoParams

    def params(self, settings: Settings) -> Any:
        """This drafter's parameters for the step about to run."""
        return settings_slice(self.Params, settings)

    def cap(self, params: Any, k: int) -> int:
        """The most tokens this drafter may propose in a step when K is `k`: K itself, or the drafter's own
        size (llama.cpp's n-gram types size their drafts with their own parameters, not K)."""
        return k

    def least(self, params: Any) -> int:
        """The shortest draft this drafter makes (a shorter one it drops): the draft gate never asks for less."""
        return 0

    def budget(self, gate: DraftGate | None, k: int, params: Any, start: int) -> int:
        """The tokens it may propose this step when `k` (> 0) are planned: what the draft gate (None: no gate this
        step) allows its source, which starts from `start` (engine/gate.py). A combination gates its members."""
        if gate is None:
            return k
        return gate.allow(self.source.value, k, min(self.least(params), k), start=start)

    def begin(self, context: list[int]) -> None:
        """A new request starts with `context` (its prompt): forget the request's state (a memory across
        requests may stay). Cheap: called on every drafter, in use or not."""

    def prepare(self, context: list[int]) -> None:
        """Prompt processing of a request this drafter is used for: read the prompt now (a draft model
        evaluates it), so the first step does not pay for it."""

    @abstractmethod
    def propose(self, context: list[int], k: int, params: Any, rng: np.random.Generator) -> Proposal:
        """Up to k tokens that may follow `context`."""

    def accept(self, n_accepted: int, is_other: bool) -> None:
        """The verdict on the last step: n_accepted of this drafter's tokens were accepted; `is_other`
        when another drafter proposed that step (as llama.cpp's accept)."""

    def finish(self, context: list[int], n_prompt: int) -> None:
        """The request ended; context[n_prompt:] is what it produced."""

    def forget(self) -> None:
        """Drop what was learnt across requests (benchmarks compare runs from scratch)."""
