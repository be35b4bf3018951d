"""The drafter registry: one entry per drafter, everything the rest of the workbench needs to know about it.

An entry holds its name, the source its tokens carry and the colour family that shows them, its llama.cpp
`--spec-type` (or, for the workbench's own, what `workbench export` says instead), its place in a chain and
in the cascade, how it is built, and the settings that make it draft on the tests' tiny models. The drafter
names and orders (engine/settings.py), the factory (drafters/__init__.py: DrafterSet), the export's
translation (export.py), the stream's legend, the themes' token keys, the help's legend and the tests'
drafter matrix (tests/drafter_cases.py) are all read from here, so a new drafter is its own module plus one
`register(...)` below (docs/architecture.md, "Adding a drafter"). Its parameters are the settings that name it
in `used_by` (engine/settings.py), read by field name into its `Params` (drafters/base.py).

Light on purpose: importing this module loads no drafter (a factory named as "module:function" is imported
when a drafter set is built), so the settings table can read the names without numpy or llama_cpp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from os.path import commonprefix
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .drafters.base import Drafter
    from .models import Model

# A drafter's constructor, called without arguments; one that uses the draft model is called with it (or None)
# and the target when the draft model's vocabulary is another one (or None), and returns None without a model.
Factory = Callable[..., "Drafter | None"]


def _no_sizes(k: int) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class DrafterEntry:
    name: str  # as --drafter and --spec-type take it
    what: str  # a few words for the help's legend and the export's comments ("prompt lookup")
    family: str = ""  # the theme's [tokens] key that colours its tokens ("" for a combination: its members')
    source: str = ""  # the Source its tokens carry (engine/events.py; "" for a combination)
    # llama.cpp's --spec-type for it; "" when it is the workbench's own
    llama: str = ""
    # the workbench's own alone: what export calls it (default "the workbench's <what>"), and the nearest
    # llama.cpp type to suggest (without, with a draft model)
    export: str = ""
    nearest: tuple[str, str] = ("", "")
    chain: int | None = None  # its place in a chain (llama.cpp's order of preference); None: no chain member
    cascade: int | None = None  # its place among the cascade's stages; None: not a stage
    factory: str | Factory | None = None  # "module:function" in engine/drafters/, or the function (None: a combination)
    uses_draft_model: bool = False
    # settings that make it draft at most k tokens on the tests' tiny models (tests/drafter_cases.py)
    sized: Callable[[int], dict[str, Any]] = _no_sizes

    def build(self, draft_model: Model | None, translate_to: Model | None) -> Drafter | None:
        factory = self.factory
        if isinstance(factory, str):
            module, _, function = factory.partition(":")
            factory = getattr(importlib.import_module(f"{__package__}.drafters.{module}"), function)
        if factory is None:
            return None
        return factory(draft_model, translate_to) if self.uses_draft_model else factory()


_ENTRIES: dict[str, DrafterEntry] = {}


def register(entry: DrafterEntry) -> DrafterEntry:
    """Add a drafter (a later engine builds it; names, legend, export and help show it from now on)."""
    if entry.name in _ENTRIES or entry.name == "none":
        raise ValueError(f"a drafter named {entry.name!r} is registered already")
    if entry.source:
        from .events import source_for

        source_for(entry.source)  # its tokens' Source exists from now on
    _ENTRIES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Take a drafter out again (a test's own drafter, once the test is done)."""
    del _ENTRIES[name]


def entries() -> tuple[DrafterEntry, ...]:
    return tuple(_ENTRIES.values())


def entry(name: str) -> DrafterEntry:
    return _ENTRIES[name]


def names() -> tuple[str, ...]:
    """Every drafter choice, 'none' first, in registration order."""
    return ("none", *_ENTRIES)


def base_names() -> tuple[str, ...]:
    """The drafters that draft themselves (not the cascade or a chain of others)."""
    return tuple(e.name for e in _ENTRIES.values() if e.factory is not None)


def chain_order() -> tuple[str, ...]:
    """A chain's possible members, in llama.cpp's order of preference."""
    return tuple(e.name for e in sorted((e for e in _ENTRIES.values() if e.chain is not None),
                                        key=lambda e: e.chain or 0))


def cascade_order() -> tuple[str, ...]:
    """The cascade's stages, in the order it asks them."""
    return tuple(e.name for e in sorted((e for e in _ENTRIES.values() if e.cascade is not None),
                                        key=lambda e: e.cascade or 0))


def llama_types() -> tuple[str, ...]:
    """The drafters that mirror one of llama.cpp's --spec-type n-gram types under its own name."""
    return tuple(e.name for e in _ENTRIES.values() if e.llama == e.name)


def families() -> dict[str, tuple[DrafterEntry, ...]]:
    """Each colour family with its drafters, in the order they were registered."""
    found: dict[str, list[DrafterEntry]] = {}
    for e in _ENTRIES.values():
        if e.family:
            found.setdefault(e.family, []).append(e)
    return {family: tuple(members) for family, members in found.items()}


def family_label(members: tuple[DrafterEntry, ...]) -> str:
    """The legend's word for a family: its drafter's name, or what its names share ('ngram-*')."""
    if len(members) == 1:
        return members[0].name
    return commonprefix([m.name for m in members]) + "*"


def family_of(source: str) -> str:
    """The colour family of a drafter's source ('target' for the target's own tokens)."""
    return next((e.family for e in _ENTRIES.values() if e.source == source), source)


# --- the drafters ----------------------------------------------------------------------------------------------
# Registration order is the order the names are offered in. Chain ranks follow llama.cpp's fixed order
# (common_speculative_init: its n-gram types first, the draft model last); ours sit between them. The cascade
# asks retrieval first because a miss costs nothing, and the draft model last (drafters/cascade.py).

_NGRAM = "llama.cpp's n-gram types"

register(DrafterEntry("draft", "draft model", family="draft", source="draft", llama="draft-simple", chain=80,
                      cascade=3, factory="cross_vocab:build", uses_draft_model=True))
register(DrafterEntry("lookup", "prompt lookup", family="lookup", source="lookup", chain=60, cascade=1,
                      nearest=("ngram-cache (llama-lookup's algorithm) or ngram-simple",) * 2,  # type: ignore[arg-type]
                      factory="lookup:LookupDrafter"))
register(DrafterEntry("suffix", "suffix cache", family="suffix", source="suffix", chain=70, cascade=2,
                      export="the workbench's suffix cache, learned across requests", nearest=("ngram-cache",) * 2,
                      factory="suffix:SuffixDrafter"))
register(DrafterEntry("cascade", "cascade", export="the workbench's: lookup, suffix and the draft model, taking the "
                      "proposal most likely accepted", nearest=("ngram-cache", "ngram-cache,draft-simple with -md")))
register(DrafterEntry("ngram-simple", _NGRAM, family="ngram", source="ngram-simple", llama="ngram-simple", chain=10,
                      factory="ngram_map:NgramSimpleDrafter",
                      sized=lambda k: {"simple_n": min(2, k), "simple_m": k}))
register(DrafterEntry("ngram-map-k", _NGRAM, family="ngram", source="ngram-map-k", llama="ngram-map-k", chain=20,
                      factory="ngram_map:NgramMapKDrafter", sized=lambda k: {"map_k_n": 2, "map_k_m": k}))
register(DrafterEntry("ngram-map-k4v", _NGRAM, family="ngram", source="ngram-map-k4v", llama="ngram-map-k4v",
                      chain=30, factory="ngram_map:NgramMapK4vDrafter",
                      sized=lambda k: {"map_k4v_n": 2, "map_k4v_m": k}))
register(DrafterEntry("ngram-mod", _NGRAM, family="ngram", source="ngram-mod", llama="ngram-mod", chain=40,
                      factory="ngram_mod:NgramModDrafter",
                      sized=lambda k: {"mod_n_match": 2, "mod_n_min": 1, "mod_n_max": k}))
register(DrafterEntry("ngram-cache", _NGRAM, family="ngram", source="ngram-cache", llama="ngram-cache", chain=50,
                      factory="ngram_cache:NgramCacheDrafter"))
register(DrafterEntry("chain", "chain",
                      sized=lambda k: {"chain": "ngram-mod,ngram-cache,draft", **entry("ngram-mod").sized(k)}))
