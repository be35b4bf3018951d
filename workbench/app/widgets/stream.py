"""The token stream: every token styled by source and fate, drawn with Textual's Line API.

Tokens are kept as spans (text, style key) and wrapped at word boundaries into lines; only the visible
lines are rendered, so thousands of tokens cost no more than a screenful. Appending touches only the
last line. The accepted text reads as prose: rejected drafts are hidden by default and a dim middle dot
takes the place of the space where a step's draft was rejected ("now·accepts"); F7 shows the rejected
tokens struck through where they were proposed. They stay in the spans either way, so toggling is a
rewrap, not a loss. The view follows the end unless the user has scrolled up.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...engine.events import Fate, TokenEvent

# Control characters a model may emit would move the terminal's cursor and tear the screen: show them
# as Unicode control pictures (U+2400...), tabs as spaces; newlines stay newlines.
PRINTABLE = {c: 0x2400 + c for c in range(32) if c != 10} | {9: "    ", 127: 0x2421}

Span = tuple[str, object]  # (text, key into the style map: (Source, Fate) or "marker")
REJECTION_MARK = "\u00b7"  # shown instead of the space before a correction while rejected drafts are hidden
_SHOWN_ONLY = "shown-only"  # a style key's variant: visible only while rejected drafts are shown
_HIDDEN_ONLY = "hidden-only"  # ... only while they are hidden
MARK_KEY = ("mark", _HIDDEN_ONLY)  # the style key of REJECTION_MARK


class TokenStream(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    TokenStream { background: $surface; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spans: list[Span] = []
        self.show_rejected = False  # the accepted text reads as prose; F7 shows what was rejected
        self.styles_map: dict[object, Style] = {}
        self._lines: list[list[Span]] = [[]]
        self._widths: list[int] = [0]
        self._wrap_width = 0
        self._strips: dict[int, Strip] = {}  # rendered lines by index; only the last line ever changes
        self._waiting: list[str] = []  # marks waiting for the next word boundary

    # --- content ----------------------------------------------------------------------------
    def add_tokens(self, events: list[TokenEvent]) -> None:
        spans: list[Span] = []
        for e in events:
            text = e.piece.translate(PRINTABLE)
            if self._waiting and (text[:1].isspace() or not self.spans and not spans):
                # a word ends here (or none began): the settings marks go between the words, the token's space after
                spans += [(text[:-1], key) for text, key in self._take_waiting()]
            body = text.lstrip(" ")
            if len(body) < len(text):  # a leading space is not underlined or struck: words stay apart
                # (a rejected token's space hides with it; "space" has no style of its own)
                space = text[:len(text) - len(body)]
                if e.fate is Fate.REJECTED:
                    spans.append((space, ("space", Fate.REJECTED)))
                elif e.fate is Fate.CORRECTION:  # where a draft was rejected: a mark while the drafts are hidden
                    spans.append((space, ("space", _SHOWN_ONLY)))
                    spans.append((REJECTION_MARK + space[1:], MARK_KEY))
                else:
                    spans.append((space, "space"))
            if body:
                spans.append((body, (e.source, e.fate)))
        self._append(spans)

    def add_marker(self, text: str, between_words: bool = False) -> None:
        """A mark in the stream (‹K=2›, ‹stopped after 31 tokens›). `between_words`: where the next word starts,
        not inside the one being written (a setting applies between steps, and a step may end mid-word: cl‹T=0.3›ung)."""
        if between_words:
            self._waiting.append(text)
            return
        self._append([*self._take_waiting(), _marker(text)])

    def flush(self) -> None:
        """The run ended: marks still waiting for a word boundary go at the end."""
        if self._waiting:
            self._append(self._take_waiting())

    def _take_waiting(self) -> list[Span]:
        waiting, self._waiting = self._waiting, []
        return [_marker(text) for text in waiting]

    def clear(self) -> None:
        self.spans = []
        self._waiting = []
        self._rewrap()

    def set_show_rejected(self, show: bool) -> None:
        self.show_rejected = show
        self._rewrap()

    @property
    def text(self) -> str:
        """What is on screen, as plain text (tests and copy)."""
        return "\n".join("".join(t for t, _ in line) for line in self._lines)

    def _append(self, spans: list[Span]) -> None:
        follow = self.scroll_y >= self.max_scroll_y - 1
        first = len(self._lines) - 1  # the last line may grow; earlier lines never change
        self.spans.extend(spans)
        for span in spans:
            self._wrap(span)
        for y in range(first, len(self._lines)):
            self._strips.pop(y, None)
        self._update_size(follow, first)

    # --- wrapping ---------------------------------------------------------------------------
    def _visible(self, key: object) -> bool:
        if not isinstance(key, tuple):
            return True
        if key[1] is Fate.REJECTED or key[1] == _SHOWN_ONLY:
            return self.show_rejected
        return key[1] != _HIDDEN_ONLY or not self.show_rejected

    def _wrap(self, span: Span) -> None:
        text, key = span
        if not self._visible(key):
            return
        width = max(self._wrap_width, 10)
        for i, part in enumerate(text.split("\n")):
            if i:
                self._lines.append([])
                self._widths.append(0)
            while part:
                room = width - self._widths[-1]
                size = cell_len(part)
                if not part.strip(" ") and size > room:  # spaces where a line wraps are the break itself
                    self._lines.append([])
                    self._widths.append(0)
                    break
                if size <= room:
                    self._lines[-1].append((part, key))
                    self._widths[-1] += size
                    break
                line = self._lines[-1]
                start = _word_start(line) if not part.startswith(" ") else len(line)
                carried = sum(cell_len(t) for t, _ in line[start:])
                if 0 < start < len(line) and carried + size <= width:  # move the whole word to the next line
                    self._lines.append(line[start:])
                    self._widths[-1] -= carried
                    del line[start:]
                    self._widths.append(carried)
                    continue
                if self._widths[-1] and size <= width:  # move the whole token to the next line
                    self._lines.append([])
                    self._widths.append(0)
                    part = part.lstrip(" ") or part
                    continue
                head, part = _split_cells(part, room)  # a token longer than the line: break it
                self._lines[-1].append((head, key))
                self._widths[-1] += cell_len(head)
                self._lines.append([])
                self._widths.append(0)

    def _rewrap(self) -> None:
        self._lines, self._widths = [[]], [0]
        for span in self.spans:
            self._wrap(span)
        self.restyle()
        self._update_size(follow=True)

    def restyle(self) -> None:
        """Forget every rendered line (new styles, new width or new wrapping)."""
        self._strips.clear()
        self.refresh()

    def _update_size(self, follow: bool, first_changed: int = 0) -> None:
        size = Size(self._wrap_width, len(self._lines))
        if size != self.virtual_size:
            # Assigning virtual_size asks for a layout of the whole screen (tens of ms with the sidebars),
            # which would compete with llama.cpp for the CPU at every new line. Only the scrollbar needs
            # to know, unless it appears or disappears: then the gutter changes and a layout is due.
            showing = self.show_vertical_scrollbar
            self.set_reactive(TokenStream.virtual_size, size)
            self._scroll_update(size)
            if self.show_vertical_scrollbar != showing:
                self.refresh(layout=True)
            if follow:
                self.scroll_end(animate=False, immediate=False, x_axis=False)
            self.refresh()
        else:  # repaint only the lines that changed, not the whole view (the UI shares the CPU with llama.cpp)
            self.refresh_lines(first_changed, len(self._lines) - first_changed)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._wrap_width:
            self._wrap_width = width
            self._rewrap()

    # --- rendering --------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        strip = self._strips.get(index)
        if strip is None or strip.cell_length != width:
            base = self.rich_style
            if index >= len(self._lines):
                return Strip.blank(width, base)
            styles = self.styles_map
            segments = [Segment(text, base + styles.get(key, Style())) for text, key in self._lines[index]]
            strip = self._strips[index] = Strip(segments).extend_cell_length(width, base).crop(0, width)
        return strip


def _marker(text: str) -> Span:
    return (f" \u2039{text}\u203a ", "marker")


def _word_start(line: list[Span]) -> int:
    """The index of the first span of the word the line ends with (after its last space), 0 if none."""
    for i in range(len(line) - 1, -1, -1):
        if line[i][0].endswith(" "):
            return i + 1
    return 0


def _split_cells(text: str, cells: int) -> tuple[str, str]:
    cells = max(cells, 1)
    used = 0
    for i, ch in enumerate(text):
        w = cell_len(ch)
        if used + w > cells:
            return text[:i] or text[:1], text[i:] if i else text[1:]
        used += w
    return text, ""


def legend(styles: dict[object, Style]) -> list[tuple[str, Style]]:
    """The one legend, as (text, style) pairs for a rich Text."""
    from ...engine import drafter_registry
    from ...engine.events import Source

    items = [("target", styles.get((Source.TARGET, Fate.PLAIN), Style()))]
    items += [(drafter_registry.family_label(members), styles.get((Source(members[0].source), Fate.ACCEPTED), Style()))
              for members in drafter_registry.families().values()]  # one hue per colour family
    items += [(f"{REJECTION_MARK}rejected (F7)", styles.get(MARK_KEY, Style())),
              ("correction/bonus", styles.get((Source.TARGET, Fate.CORRECTION), Style())),
              ("\u2039setting\u203a", styles.get("marker", Style()))]
    return [part for i, item in enumerate(items) for part in ([("  ", Style())] if i else []) + [item]]
