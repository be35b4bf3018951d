"""Where draft tokens come from, and the one place that builds them: a draft model, prompt lookup, a
suffix cache, and the cascade of them (in `CASCADE_ORDER`, written once here).

The engine holds one `DrafterSet` per loaded pair. The base drafters outlive requests (the suffix cache
remembers earlier outputs); the cascade is a view over them, rebuilt when the draft model changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..settings import DrafterName
from .base import Drafter, Proposal
from .cascade import CascadeDrafter
from .lookup import LookupDrafter
from .suffix import SuffixDrafter

if TYPE_CHECKING:
    from ..models import Model

__all__ = ["CASCADE_ORDER", "Drafter", "DrafterSet", "Proposal"]

# Retrieval first because a miss costs nothing; the draft model last, when retrieval has too little to say.
CASCADE_ORDER: tuple[DrafterName, ...] = ("lookup", "suffix", "draft")


class DrafterSet:
    """The drafters of one engine, by name ('none' has none)."""

    def __init__(self, draft_model: Model | None = None) -> None:
        self._base: dict[DrafterName, Drafter] = {"lookup": LookupDrafter(), "suffix": SuffixDrafter()}
        self.cascade = CascadeDrafter([])
        self.set_draft_model(draft_model)

    def set_draft_model(self, model: Model | None) -> None:
        """Use `model` as the draft drafter (None: no draft model); the cascade follows."""
        from .draft_model import DraftModelDrafter  # it needs llama_cpp; the n-gram drafters do not

        self._base.pop("draft", None)
        if model is not None:
            self._base["draft"] = DraftModelDrafter(model)
        self.cascade = CascadeDrafter([self._base[n] for n in CASCADE_ORDER if n in self._base])

    def accept(self, used: Drafter, n_accepted: int) -> None:
        """The verdict on a step: to the drafter that proposed it, and as `is_other` to the rest (the
        cascade tells its stages apart itself)."""
        if used is self.cascade:
            self.cascade.accept(n_accepted, is_other=False)
            return
        for drafter in self:
            drafter.accept(n_accepted, is_other=drafter is not used)

    def __getitem__(self, name: DrafterName) -> Drafter:
        return self.cascade if name == "cascade" else self._base[name]

    def __contains__(self, name: object) -> bool:
        return name == "cascade" or name in self._base

    def __iter__(self) -> Iterator[Drafter]:
        """The base drafters (the cascade only forwards to them)."""
        return iter(list(self._base.values()))
