"""A fixed, model-free stream of engine events: every source and fate, a settings change, a stop; and a
recording of a draft-model run made from such a stream. Deterministic content for snapshot tests of the app."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from workbench.engine.events import DoneEvent, Event, Fate, PromptEvent, SettingsEvent, Source, StepEvent, TokenEvent
from workbench.engine.record import Recorder
from workbench.engine.settings import Settings

# (source, accepted pieces, rejected pieces, target piece)
STEPS = [
    (Source.TARGET, [], [], " The"),
    (Source.LOOKUP, [" report", " says", " that"], [" the"], " sales"),
    (Source.DRAFT, [" rose", " by"], [" twelve", " percent"], " 12"),
    (Source.SUFFIX, ["%", " in", " the", " third"], [], " quarter"),
    (Source.DRAFT, [",", " driven"], [" mostly"], " by"),
    (Source.LOOKUP, [" strong", " demand", " in", " Europe"], [], "."),
    (Source.TARGET, [], [], " Costs"),
    (Source.DRAFT, [" fell"], [" sharply", " in"], " slightly"),
    (Source.SUFFIX, [",", " and", " margins"], [" grew"], " improved"),
    (Source.LOOKUP, [" to", " 18"], [" percent"], "%."),
]


# a chain run: llama.cpp's ngram-cache and a draft model (llama.cpp's order: the n-gram type first)
CHAIN_STEPS = [
    (Source.TARGET, [], [], " In"),
    (Source.NGRAM_CACHE, [" this", " release", ","], [], " the"),
    (Source.DRAFT, [" parser", " now", " accepts"], [" commas"], " trailing"),
    (Source.NGRAM_CACHE, [" commas", " in", " lists"], [" of"], " and"),
    (Source.DRAFT, [" objects", "."], [], " In"),
    (Source.NGRAM_CACHE, [" this", " release", ","], [], " the"),
    (Source.DRAFT, [" command", " line", " tool"], [" now"], " prints"),
    (Source.NGRAM_CACHE, [" a", " clear", " error"], [], " when"),
    (Source.DRAFT, [" the", " input", " file"], [], " is"),
    (Source.NGRAM_CACHE, [" missing", "."], [" In"], "\n"),
]


# a draft-model run under adaptive K: steps fully accepted, partly, and one with nothing accepted
DRAFT_STEPS = [
    (Source.TARGET, [], [], " The"),
    (Source.DRAFT, [" meeting", " was"], [" held"], " moved"),
    (Source.DRAFT, [" to", " Thursday"], [], " because"),
    (Source.DRAFT, [], [" the", " team"], " two"),
    (Source.DRAFT, [" of", " the", " speakers", " could"], [], " not"),
    (Source.DRAFT, [" attend", " on"], [" the"], " Tuesday"),
    (Source.DRAFT, ["."], [" The", " new"], " Please"),
    (Source.DRAFT, [" update", " your"], [], " calendars"),
    (Source.DRAFT, [" and"], [" let", " me"], " reply"),
    (Source.DRAFT, [" if", " the", " new", " time"], [], " does"),
    (Source.DRAFT, [" not", " work"], [" for"], "."),
]

_CHANGE = (6, {"draft_max": 2})
_DONE = DoneEvent("stopped", "stopped after 31 tokens")


# what a verify batch of each width costs in plain steps: SmolLM2-135M Q4_1 at 2 threads as measured in issue 23
# (2: 1.72, 5: 3.22, 9: 4.38), the widths between drawn in a straight line
Q4_1_VERIFY = {1: 1.0, 2: 1.72, 3: 2.22, 4: 2.72, 5: 3.22}


def scripted_events(steps: list | None = None, change: tuple[int, dict] | None = _CHANGE,
                    done: DoneEvent = _DONE, verify: dict[int, float] | None = None) -> list[Event]:
    """The steps' events: a settings `change` (step, changes) before that step, unless None; `done` last. `verify`:
    a verify batch's cost per width in plain steps (default: every width costs what a plain step does)."""
    events: list[Event] = [PromptEvent(42, 0.05)]
    token_id = 1000
    t = 0.0
    for step, (source, accepted, rejected, own) in enumerate(steps or STEPS):
        if change and step == change[0]:
            events.append(SettingsEvent(step, change[1]))
        for i, piece in enumerate(accepted):
            events.append(TokenEvent(token_id, piece, source, Fate.ACCEPTED, step, i))
            token_id += 1
        for i, piece in enumerate(rejected, start=len(accepted)):
            events.append(TokenEvent(token_id, piece, source, Fate.REJECTED, step, i))
            token_id += 1
        drafted = len(accepted) + len(rejected)
        fate = Fate.PLAIN if not drafted else Fate.CORRECTION if rejected else Fate.BONUS
        events.append(TokenEvent(token_id, own, Source.TARGET, fate, step, len(accepted)))
        token_id += 1
        seconds = 0.016 * (verify or {}).get(drafted + 1, 1.0)
        t += 0.02 + 0.01 * drafted + seconds - 0.016
        events.append(StepEvent(step, source, 4, drafted, len(accepted), len(accepted) + 1, 0.004 * drafted, seconds, t))
    events.append(done)
    return events


def draft_recording(folder: Path) -> Path:
    """A recording written by the app's own Recorder from scripted events: a draft-model run under adaptive K
    (header settings as a live run writes them), so no model is needed and the content is the same every time.
    Only the recorded times `t` (the replay's pacing, from the wall clock) vary: step through it to be exact."""
    path = folder / "draft-auto.jsonl"
    settings = Settings(drafter="draft", adaptive="auto", draft_max=32)
    recorder = Recorder(path, {"prompt": "Write a short note moving the meeting to Thursday.",
                               "models": {"target": "tiny-target.gguf", "draft": "tiny-draft.gguf"},
                               "settings": asdict(settings)})
    for event in scripted_events(DRAFT_STEPS, change=None, done=DoneEvent("eos", "end of generation after 31 tokens")):
        recorder.add(event)
    recorder.close()
    return path
