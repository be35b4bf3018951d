"""Textual's Footer without its leak.

The footer composes its keys again whenever the bindings' state changes (a run starting or ending disables
and enables keys), and each new key binds its `compact` to the footer's, which registers a watcher on the
footer. Textual (8.2) drops the watchers of removed keys only when `compact` itself changes, which it
almost never does: every run left ~60 dead keys with their styles behind (about 1.5 MB a run, found with
tracemalloc over 20 runs). Before each compose, the watchers of keys that are gone are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Footer


class LeanFooter(Footer):
    def compose(self) -> Iterable[Widget]:
        watchers = getattr(self, "__watchers", None)  # Textual's own store (textual/reactive.py: _watch)
        if watchers:
            for callbacks in watchers.values():
                callbacks[:] = [(node, cb) for node, cb in callbacks if node.is_attached]
        yield from super().compose()
