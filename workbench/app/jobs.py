"""What the live screen runs in thread workers: each job does its engine work off the UI thread and returns
the typed message (app/messages.py) the screen posts to itself. Plain functions, no widgets touched."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.errors import WorkbenchError
from ..engine.events import DoneEvent, NoticeEvent
from .messages import AgreementMeasured, BaselineMeasured, RunEnded

if TYPE_CHECKING:
    from ..engine.session import Engine, Session
    from ..engine.settings import Settings
    from ..engine.transcript import Transcript
    from .keeper import Keeper
    from .run_view import RunView


def generate(session: Session, n_predict: int, keeper: Keeper, view: RunView) -> RunEnded:
    """A run: every event to the recording and to the view's queue (a deque append, nothing more)."""
    try:
        for event in session.run(n_predict):
            notes = keeper.record(event)
            view.push(event)
            for note in notes:  # the recording or the journal stopped (a full disk): the run goes on
                view.push(NoticeEvent(note))
    except WorkbenchError as e:
        view.feed([NoticeEvent(str(e)), DoneEvent("error", str(e))])
    return RunEnded()


def baseline(engine: Engine, prompt: str, n_predict: int, s: Settings, view: RunView | None = None) -> BaselineMeasured:
    """Plain decoding on the run's prompt with the run's sampling: the speedup's reference and, when greedy,
    the output a greedy run is compared with. Its events go to `view` too, if given: the screen is never idle
    while it measures (the run that follows resets the view)."""
    from ..engine.settings import LiveSettings
    from ..engine.transcript import Transcript

    t = Transcript()
    settings = LiveSettings(drafter="none", temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, seed=s.seed)
    for event in engine.session(prompt, settings).run(n_predict):
        t.add(event)
        if view is not None:
            view.push(event)
    return BaselineMeasured(t.stats.tokens_per_second, prompt, t.emitted_ids if s.temperature == 0 else None)


def comparable_plain_output(plain: tuple[str, list[int]] | None, run_prompt: str, run_settings: Settings,
                            transcript: Transcript) -> list[int] | None:
    """Plain decoding's greedy output to compare the run with: only when both are greedy (the run throughout)
    on the same prompt as sent, and the run produced something."""
    greedy = run_settings.temperature == 0 and not any("temperature" in c.changes for c in transcript.settings_changes)
    if plain is None or not greedy or plain[0] != run_prompt or not transcript.emitted_ids:
        return None
    return plain[1]


def agreement(engine: Engine, prompt: str, plain: list[int], ours: list[int]) -> AgreementMeasured:
    return AgreementMeasured(engine.agreement(prompt, plain, ours))
