"""A one-value text widget that repaints without a layout pass.

`Static.update` asks for a new layout of the whole screen each time; for text that changes several
times a second in a box of fixed size (the status line, the system panel) that layout work competes
with llama.cpp for the CPU. This widget only repaints itself, and only when the text changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class LiveText(Widget):
    DEFAULT_CSS = "LiveText { height: 1; }"

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = text

    @property
    def text(self) -> str:
        return self._text

    def set(self, text: str) -> None:
        if text != self._text:
            self._text = text
            # Only a widget on screen repaints (as Textual's own auto_refresh does): a refresh of a hidden one
            # (the System tab while another tab shows) makes the compositor rebuild its whole map, and a screen
            # update in that frame (a notification expiring, plots hidden) was then never painted.
            if self.is_on_screen:
                self.refresh()

    def render(self) -> Text:
        return Text(self._text, no_wrap=True, overflow="ellipsis", end="")
