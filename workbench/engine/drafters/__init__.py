"""Where draft tokens come from, and the one place that builds them: a draft model, prompt lookup, a
suffix cache, llama.cpp's five n-gram types, our cascade and llama.cpp's chain of them (each drafter, and
the cascade's and chains' orders, declared once in engine/drafter_registry.py).

The engine holds one `DrafterSet` per loaded pair. The base drafters outlive requests (the suffix cache
and ngram-mod's table remember earlier outputs); the cascade and the chains are views over them, rebuilt
when the draft model or the chain's members change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .. import drafter_registry
from ..errors import WorkbenchError
from ..settings import Settings
from . import ngram_cache
from .base import Drafter, Proposal
from .cascade import CascadeDrafter, ChainDrafter
from .ngram_cache import NgramCacheDrafter

if TYPE_CHECKING:
    from ..models import LoadOptions, Model

__all__ = ["Drafter", "DrafterSet", "Proposal"]


class DrafterSet:
    """The drafters of one engine, by name ('none' has none)."""

    def __init__(self, draft_model: Model | None = None, translate_to: Model | None = None) -> None:
        self._base: dict[str, Drafter] = {}
        for entry in drafter_registry.entries():
            if entry.factory is not None and not entry.uses_draft_model:
                self._base[entry.name] = entry.build(None, None)  # type: ignore[assignment]
        self._chains: dict[str, ChainDrafter] = {}
        self.cascade = CascadeDrafter([])
        self.set_draft_model(draft_model, translate_to)

    def set_draft_model(self, model: Model | None, translate_to: Model | None = None) -> None:
        """Use `model` as the draft drafter (None: no draft model); the cascade and chains follow. With
        `translate_to` (the target), the draft model has another vocabulary and its drafts are translated."""
        for entry in drafter_registry.entries():  # built only here: they need llama_cpp, the n-gram drafters do not
            if entry.uses_draft_model:
                self._base.pop(entry.name, None)
                drafter = entry.build(model, translate_to)
                if drafter is not None:
                    self._base[entry.name] = drafter
        self.cascade = CascadeDrafter([self._base[n] for n in drafter_registry.cascade_order() if n in self._base])
        self._chains = {}

    @property
    def ngram_cache(self) -> NgramCacheDrafter:
        return self._base["ngram-cache"]  # type: ignore[return-value]

    @staticmethod
    def check_caches(options: LoadOptions) -> tuple[ngram_cache.Cache, ngram_cache.Cache]:
        """The static and dynamic n-gram caches the options name, read (a missing dynamic file is a new one)."""
        static = ngram_cache.load(options.lookup_cache_static) if options.lookup_cache_static else {}
        dynamic_path = options.lookup_cache_dynamic
        dynamic = ngram_cache.load(dynamic_path) if dynamic_path and Path(dynamic_path).exists() else {}
        return static, dynamic

    def use_caches(self, caches: tuple[ngram_cache.Cache, ngram_cache.Cache], dynamic_path: str | None,
                   n_vocab: int) -> None:
        """Hand ngram-cache its caches, refusing token ids this vocabulary does not have."""
        for cache, flag in zip(caches, ("--lookup-cache-static", "--lookup-cache-dynamic"), strict=True):
            if any(t >= n_vocab for ngram, part in cache.items() for t in (*ngram, *part)):
                raise WorkbenchError(f"{flag}: the n-gram cache holds token ids beyond this model's vocabulary of "
                                     f"{n_vocab}: it was made with another tokenizer")
        drafter = self.ngram_cache
        drafter.static, drafter.dynamic = caches
        drafter.dynamic_path = Path(dynamic_path) if dynamic_path else None

    def chain(self, members: str) -> ChainDrafter:
        """The chain of these comma-separated members (already in llama.cpp's order); a member that cannot
        run here (the draft model when none is loaded) is left out."""
        if members not in self._chains:
            self._chains[members] = ChainDrafter([self._base[n] for n in members.split(",") if n in self._base])
        return self._chains[members]

    def get(self, settings: Settings) -> Drafter | None:
        """The drafter the settings choose (None for 'none')."""
        if settings.drafter == "none":
            return None
        if settings.drafter == "chain":
            return self.chain(settings.chain)
        return self[settings.drafter]

    def accept(self, used: Drafter, n_accepted: int) -> None:
        """The verdict on a step: to the drafter that proposed it, and as `is_other` to the rest (a cascade
        or chain tells its members apart itself)."""
        if isinstance(used, CascadeDrafter):
            used.accept(n_accepted, is_other=False)
            for drafter in self:
                if drafter not in used.stages:
                    drafter.accept(n_accepted, is_other=True)
            return
        for drafter in self:
            drafter.accept(n_accepted, is_other=drafter is not used)

    def forget(self) -> None:
        """Drop what every drafter learnt across requests, the cascade's and chains' ratings of their members too."""
        for drafter in self:
            drafter.forget()
        for view in (self.cascade, *self._chains.values()):
            view.forget_ratings()  # its members are among the drafters just forgotten

    def __getitem__(self, name: str) -> Drafter:
        return self.cascade if name == "cascade" else self._base[name]

    def __contains__(self, name: object) -> bool:
        return name in ("cascade", "chain") or name in self._base

    def __iter__(self) -> Iterator[Drafter]:
        """The base drafters (the cascade and chains only forward to them)."""
        return iter(list(self._base.values()))
