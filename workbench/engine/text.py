"""Token pieces as text, UTF-8 safe: a character split across tokens comes out whole on its last token.

llama.cpp's pieces are bytes; byte-fallback vocabularies spell a character as several byte tokens. An
incremental decoder holds the unfinished bytes back, so a consumer can print pieces one by one.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable


class PieceDecoder:
    def __init__(self, piece: Callable[[int], bytes]) -> None:
        self._piece = piece
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, token: int) -> str:
        """The text that `token` completes (possibly empty), advancing past it."""
        return self._decoder.decode(self._piece(token))

    def peek(self, tokens: list[int]) -> list[str]:
        """The texts `tokens` would give, without advancing (for rejected drafts)."""
        saved = self._decoder.getstate()
        try:
            return [self._decoder.decode(self._piece(t)) for t in tokens]
        finally:
            self._decoder.setstate(saved)
