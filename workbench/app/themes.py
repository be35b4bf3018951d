"""Themes as data: themes/*.toml become Textual themes whose `token-*` variables colour the stream."""

from __future__ import annotations

import tomllib
from functools import lru_cache

from rich.style import Style
from textual.color import Color, ColorParseError
from textual.theme import Theme

from ..engine.errors import WorkbenchError
from ..engine.events import Fate, Source
from ..engine.userfiles import SMALL_MAX, read_text
from ..palette import style, token_keys
from ..resources import data_dir
from .widgets.stream import MARK_KEY

_COLOUR_KEYS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
                "surface", "panel", "boost")


@lru_cache(maxsize=1)
def load_themes() -> tuple[Theme, ...]:
    """The themes that read and check; a damaged file is skipped and named in `theme_problems()`."""
    return _load()[0]


def theme_problems() -> list[str]:
    """One line per theme file skipped, naming it and why (for a notice at start)."""
    return list(_load()[1])


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[Theme, ...], tuple[str, ...]]:
    themes, problems = [], []
    for entry in sorted(data_dir("themes").iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            themes.append(_theme(str(entry), read_text(str(entry), "theme", SMALL_MAX)))
        except WorkbenchError as e:
            problems.append(f"theme skipped: {e}")
    return tuple(themes), tuple(problems)


def _theme(name: str, text: str) -> Theme:
    """A theme from its TOML, every value checked: one WorkbenchError naming the file and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise WorkbenchError(f"{name} is not valid TOML ({e})") from None
    tokens = data.pop("tokens", None)
    if not isinstance(tokens, dict) or not tokens:
        raise WorkbenchError(f"{name}: [tokens] must give colours for {', '.join(token_keys())}")
    colours = [(k, v) for k, v in data.items() if k in _COLOUR_KEYS]
    for key, value in [*colours, *((f"tokens.{k}", v) for k, v in tokens.items())]:
        if not isinstance(value, str):
            raise WorkbenchError(f"{name}: {key} must be a colour (a string), not {value!r}")
        try:
            Color.parse(value)
        except ColorParseError:
            raise WorkbenchError(f"{name}: {key} = {value!r} is not a colour") from None
    if not isinstance(data.get("name"), str) or not isinstance(data.get("dark", True), bool):
        raise WorkbenchError(f"{name}: name must be a string and dark true or false")
    data["variables"] = {f"token-{k}": tokens[k] for k in token_keys() if k in tokens}
    try:
        return Theme(**data)
    except (TypeError, ValueError) as e:
        raise WorkbenchError(f"{name}: not a theme ({e})") from None


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
