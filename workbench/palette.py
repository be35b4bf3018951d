"""The token legend, one definition for the app and the headless printer.

One hue per source; accepted tokens bright, rejected dim and struck through, the target's own
correction/bonus tokens in the plain colour with an underline marking where a verify step ended.
The hues come from a theme's [tokens] table (themes/*.toml), read here without Textual: one per colour
family (engine/drafter_registry.py), and a family a theme does not name is drawn in its marker colour, so a
new drafter never needs a theme edited.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache

from .engine import drafter_registry
from .engine.events import Fate, Source
from .resources import data_dir

DEFAULT_THEME = "workbench-dark"


@lru_cache(maxsize=8)
def theme_tokens(name: str = DEFAULT_THEME) -> dict[str, str]:
    """A theme's token colours: target, draft, lookup, suffix, ngram, marker."""
    return tomllib.loads((data_dir("themes") / f"{name}.toml").read_text(encoding="utf-8"))["tokens"]


def token_keys() -> tuple[str, ...]:
    """A theme's [tokens] keys: the target, each colour family, the marker."""
    return ("target", *drafter_registry.families(), "marker")


def colour_key(source: Source) -> str:
    """The theme's [tokens] key that colours a source: its drafter's family (llama.cpp's five n-gram types share
    one hue; the per-drafter statistics tell them apart)."""
    return drafter_registry.family_of(source.value)


def style(source: Source, fate: Fate, colours: dict[str, str]) -> str:
    """A Rich style string for a token; `colours` maps the theme's token keys (and "target") to colours."""
    hue = colours.get(colour_key(source)) or colours["marker"]
    if fate is Fate.REJECTED:
        return f"dim strike {hue}"
    if fate in (Fate.CORRECTION, Fate.BONUS):
        return f"underline {colours['target']}"
    if fate is Fate.ACCEPTED:
        return f"bold {hue}"
    return colours["target"]
