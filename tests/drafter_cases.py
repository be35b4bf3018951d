"""Every drafter, sized so that it drafts on the tiny models' short texts (shared by the engine tests); the
list and the sizes come from the drafter registry (workbench/engine/drafter_registry.py)."""

from __future__ import annotations

from workbench.engine import drafter_registry

# prompts whose greedy continuations on the tiny models repeat enough for every drafter to draft
PROMPTS = ["the model is fast and the draft is slow and the model is fast and the",
           "Hello world, this is a test of speculative decoding"]

DRAFTERS = list(drafter_registry.names()[1:])


def sized(drafter: str, k: int) -> dict[str, object]:
    """Settings that make `drafter` draft at most k tokens on the tiny models' short texts (llama.cpp's
    n-gram types are sized by their own parameters, with keys too long for 48 tokens by default)."""
    return {"drafter": drafter, "draft_max": k, **drafter_registry.entry(drafter).sized(k)}
