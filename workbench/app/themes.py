"""Themes as data: themes/*.toml become Textual themes whose `token-*` variables colour the stream."""

from __future__ import annotations

import tomllib
from functools import lru_cache

from rich.style import Style
from textual.theme import Theme

from ..engine.events import Fate, Source
from ..palette import style, token_keys
from ..resources import data_dir
from .widgets.stream import MARK_KEY


@lru_cache(maxsize=1)
def load_themes() -> tuple[Theme, ...]:
    themes = []
    for entry in sorted(data_dir("themes").iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        tokens = data.pop("tokens", {})
        data["variables"] = {f"token-{k}": tokens[k] for k in token_keys() if k in tokens}
        themes.append(Theme(**data))
    return tuple(themes)


def token_styles(variables: dict[str, str]) -> dict[tuple[Source, Fate] | str, Style]:
    """The token legend (workbench.palette) in the current theme's colours."""
    # a family the theme does not colour is drawn in its marker colour (workbench.palette.style)
    colours = {"target": "default", "marker": "default",
               **{k: variables[f"token-{k}"] for k in token_keys() if f"token-{k}" in variables}}
    styles: dict[tuple[Source, Fate] | str, Style] = {
        (source, fate): Style.parse(style(source, fate, colours)) for source in Source for fate in Fate}
    styles["marker"] = Style(color=colours["marker"], italic=True)
    styles[MARK_KEY] = Style(color=colours["marker"], bold=True)  # where a draft was rejected (hidden)
    return styles
