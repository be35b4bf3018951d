"""What the app's thread workers report back: one typed message per outcome, handled on the UI thread.

Workers never touch widgets; they post one of these to their screen (no bubbling: the screen owns them)
and return. `Worker.StateChanged` is left for the unforeseen (an exception the worker did not turn into a
message), which the screen reports as an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from ..engine.agreement import Agreement
    from ..engine.session import Engine
    from ..experts import ExpertRow


class EngineLoaded(Message, bubble=False):
    """A target (and draft) finished loading; `autostart` asks for a run straight away."""

    def __init__(self, engine: Engine, target: str, draft: str, autostart: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.target, self.draft = target, draft  # the references the user gave ('embedded', a path)
        self.autostart = autostart


class LoadFailed(Message, bubble=False):
    """Loading was refused or failed; the app keeps the pair it had."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class BaselineMeasured(Message, bubble=False):
    """Plain decoding on the run's prompt: the reference of the speedup, and (greedy) of the output."""

    def __init__(self, tokens_per_second: float, prompt: str = "", ids: list[int] | None = None) -> None:
        super().__init__()
        self.tokens_per_second = tokens_per_second
        self.prompt, self.ids = prompt, ids  # ids: the greedy output, None when it sampled


class AgreementMeasured(Message, bubble=False):
    """How the last greedy run's output agrees with plain decoding's on the same prompt."""

    def __init__(self, agreement: Agreement) -> None:
        super().__init__()
        self.agreement = agreement


class ExpertsMeasured(Message, bubble=False):
    """The expert-count table of an MoE target (perplexity, agreement, tok/s per count)."""

    def __init__(self, model_name: str, rows: list[ExpertRow]) -> None:
        super().__init__()
        self.model_name, self.rows = model_name, rows


class RunEnded(Message, bubble=False):
    """A generation thread returned (finished, stopped, or failed with a message already queued)."""
