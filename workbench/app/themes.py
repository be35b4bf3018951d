"""Themes as data: themes/*.toml become Textual themes whose `token-*` variables colour the stream."""

from __future__ import annotations

import tomllib
from functools import lru_cache

from rich.style import Style
from textual.theme import Theme

from ..engine.events import Fate, Source
from ..resources import data_dir

TOKEN_KEYS = ("target", "draft", "lookup", "suffix", "marker")


@lru_cache(maxsize=1)
def load_themes() -> tuple[Theme, ...]:
    themes = []
    for entry in sorted(data_dir("themes").iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        tokens = data.pop("tokens", {})
        data["variables"] = {f"token-{k}": tokens[k] for k in TOKEN_KEYS}
        themes.append(Theme(**data))
    return tuple(themes)


def token_styles(variables: dict[str, str]) -> dict[tuple[Source, Fate] | str, Style]:
    """The legend of DESIGN.md section 4 in the current theme's colours."""
    colour = {s: variables.get(f"token-{s.value}", "default") for s in Source}
    styles: dict[tuple[Source, Fate] | str, Style] = {}
    for source in Source:
        styles[(source, Fate.ACCEPTED)] = Style(color=colour[source], bold=True)
        styles[(source, Fate.REJECTED)] = Style(color=colour[source], dim=True, strike=True)
        styles[(source, Fate.PLAIN)] = Style(color=colour[Source.TARGET])
        styles[(source, Fate.CORRECTION)] = Style(color=colour[Source.TARGET], underline=True)
        styles[(source, Fate.BONUS)] = Style(color=colour[Source.TARGET], underline=True)
    styles["marker"] = Style(color=variables.get("token-marker", "default"), italic=True)
    return styles
