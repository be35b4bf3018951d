"""A fixed, model-free stream of engine events: every source and fate, a settings change, a stop.
Deterministic content for snapshot tests of the app."""

from __future__ import annotations

from workbench.engine.events import DoneEvent, Event, Fate, PromptEvent, SettingsEvent, Source, StepEvent, TokenEvent

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


def scripted_events(steps: list | None = None) -> list[Event]:
    events: list[Event] = [PromptEvent(42, 0.05)]
    token_id = 1000
    t = 0.0
    for step, (source, accepted, rejected, own) in enumerate(steps or STEPS):
        if step == 6:
            events.append(SettingsEvent(step, {"draft_max": 2}))
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
        t += 0.02 + 0.01 * drafted
        events.append(StepEvent(step, source, 4, drafted, len(accepted), len(accepted) + 1, 0.004 * drafted, 0.016, t))
    events.append(DoneEvent("stopped", "stopped after 31 tokens"))
    return events
