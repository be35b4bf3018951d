"""A new drafter is its own code plus one registry entry: one registered from this test runs through the
engine (alone and in a chain) and shows in the settings, the legend, the themes, the export and the help."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from workbench.engine import drafter_registry
from workbench.engine.drafter_registry import DrafterEntry
from workbench.engine.drafters.base import Drafter, Proposal
from workbench.engine.events import Fate, Source
from workbench.engine.settings import LiveSettings, parse_chain, parse_drafter

# what plain decoding continues the prompt with, filled in by the test before the engine runs
ANSWER: list[int] = []


class FixedDrafter(Drafter):
    """Proposes a fixed continuation: the answer's next tokens after the prompt (ANSWER)."""

    def begin(self, context: list[int]) -> None:
        self.n_prompt = len(context)

    def propose(self, context: list[int], k: int, params: object, rng: np.random.Generator) -> Proposal:
        done = len(context) - self.n_prompt
        return Proposal(ANSWER[done:done + k], self.source)


@pytest.fixture
def fixed() -> Iterator[DrafterEntry]:
    entry = drafter_registry.register(DrafterEntry(
        "fixed", "fixed continuation", family="fixed", source="fixed", chain=75, factory=FixedDrafter,
        export="a test's fixed continuation"))
    FixedDrafter.source = Source("fixed")  # made by registering it
    yield entry
    drafter_registry.unregister("fixed")


def test_a_registered_drafter_runs_through_the_engine(fixed, tiny_target):
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    engine = Engine.load(tiny_target, None, LoadOptions(n_ctx=512, n_threads=1))
    try:
        prompt = "Hello world, this is a test of speculative decoding"
        plain = engine.generate(prompt, 24, drafter="none").emitted_ids
        ANSWER[:] = plain
        t = engine.generate(prompt, 24, drafter="fixed", draft_max=4, draft_gate="off")
        assert t.emitted_ids == plain  # every token the target's own choice
        fixed_tokens = [e for e in t.tokens if e.source is Source("fixed")]
        assert fixed_tokens and all(e.fate is Fate.ACCEPTED for e in fixed_tokens)
        assert t.stats.by_source[Source("fixed")][1] > 0
        # in a chain, at its rank: before the draft model, after ngram-mod
        assert parse_chain("draft,fixed,ngram-mod") == "ngram-mod,fixed,draft"
        chained = engine.generate(prompt, 24, drafter="ngram-mod,fixed", draft_max=4, draft_gate="off")
        assert chained.emitted_ids == plain and chained.stats.by_source[Source("fixed")][1] > 0
    finally:
        engine.close()


def test_a_registered_drafter_shows_everywhere(fixed):
    from rich.style import Style

    from workbench.app.dialogs import help_markdown
    from workbench.app.themes import load_themes, token_styles
    from workbench.app.widgets.stream import legend
    from workbench.export import llama_command

    assert parse_drafter("fixed") == "fixed"
    assert LiveSettings(drafter="fixed").snapshot().drafter == "fixed"
    for theme in load_themes():  # no theme names its family: drawn in the theme's marker colour
        styles = token_styles(theme.variables)
        assert styles[(Source("fixed"), Fate.ACCEPTED)] == Style.parse(f"bold {theme.variables['token-marker']}")
        assert "fixed" in [text for text, _ in legend(styles)]
    assert "fixed continuation" in help_markdown()
    command = llama_command(LiveSettings(drafter="fixed").snapshot(), "t.gguf")
    assert "# drafter fixed (a test's fixed continuation): llama.cpp has no equivalent" in command
    assert "--spec-type" not in command
    chain = llama_command(LiveSettings(drafter="ngram-mod,fixed").snapshot(), "t.gguf")
    assert "chain member fixed (fixed continuation): the workbench's own" in chain
    assert "--spec-type ngram-mod" in chain


def test_the_registry_is_the_one_list():
    from workbench.engine.settings import CHAIN_ORDER, DRAFTERS, SPECS, drafters_using

    assert DRAFTERS == drafter_registry.names()
    assert CHAIN_ORDER == ("ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod", "ngram-cache", "lookup",
                           "suffix", "draft")
    assert drafter_registry.cascade_order() == ("lookup", "suffix", "draft")
    assert drafters_using("ngram") == ("lookup", "cascade")
    # each drafter's parameters are settings that name it, with the table's defaults (drafters/base.py)
    from dataclasses import fields

    from workbench.engine.drafters import DrafterSet

    for name in drafter_registry.base_names():
        if name == "draft":
            continue  # built only with a draft model
        params = DrafterSet()[name].Params()
        for f in fields(params):
            assert getattr(params, f.name) == SPECS[f.name].default
