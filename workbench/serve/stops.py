"""Stop sequences on a stream of text pieces: the text before the first stop sequence, released as soon as
it cannot be the start of one (so a stream never sends what a stop sequence would then take back)."""

from __future__ import annotations


class StopFinder:
    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.hit = False
        self._held = ""  # text that may be the beginning of a stop sequence

    def feed(self, piece: str) -> str:
        """The text that is now certainly output (empty once a stop sequence was found)."""
        if self.hit:
            return ""
        text = self._held + piece
        found = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if found:
            self.hit, self._held = True, ""
            return text[:min(found)]
        keep = max((n for s in self.stops for n in range(min(len(s) - 1, len(text)), 0, -1)
                    if s.startswith(text[len(text) - n:])), default=0)
        self._held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def flush(self) -> str:
        """At the end of generation: what was held back, since no stop sequence followed it."""
        text, self._held = self._held, ""
        return "" if self.hit else text
