"""The token legend (DESIGN.md section 4) as Rich styles, for the headless printer.

One hue per source; accepted tokens bright, rejected dim and struck through, the target's own
correction/bonus tokens in the plain colour with an underline marking where a verify step ended.
"""

from __future__ import annotations

from .engine.events import Fate, Source

SOURCE_COLOURS = {
    Source.TARGET: "default",
    Source.DRAFT: "#5fafff",  # blue
    Source.LOOKUP: "#ffaf00",  # amber
    Source.SUFFIX: "#d75fd7",  # magenta
}


def style(source: Source, fate: Fate) -> str:
    colour = SOURCE_COLOURS[source]
    if fate is Fate.REJECTED:
        return f"dim strike {colour}"
    if fate in (Fate.CORRECTION, Fate.BONUS):
        return f"underline {colour}"
    if fate is Fate.ACCEPTED:
        return f"bold {colour}"
    return colour


LEGEND = [("target", style(Source.TARGET, Fate.PLAIN)), ("draft", style(Source.DRAFT, Fate.ACCEPTED)),
          ("lookup", style(Source.LOOKUP, Fate.ACCEPTED)), ("suffix", style(Source.SUFFIX, Fate.ACCEPTED)),
          ("rejected", "dim strike"), ("correction/bonus", "underline")]
