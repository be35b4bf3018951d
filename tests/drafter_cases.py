"""Every drafter, sized so that it drafts on the tiny models' short texts (shared by the engine tests)."""

from __future__ import annotations

# prompts whose greedy continuations on the tiny models repeat enough for every drafter to draft
PROMPTS = ["the model is fast and the draft is slow and the model is fast and the",
           "Hello world, this is a test of speculative decoding"]

DRAFTERS = ["draft", "lookup", "suffix", "cascade", "ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod",
            "ngram-cache", "chain"]


def sized(drafter: str, k: int) -> dict[str, object]:
    """Settings that make `drafter` draft at most k tokens on the tiny models' short texts (llama.cpp's
    n-gram types are sized by their own parameters, with keys too long for 48 tokens by default)."""
    own = {"ngram-simple": {"simple_n": min(2, k), "simple_m": k}, "ngram-map-k": {"map_k_n": 2, "map_k_m": k},
           "ngram-map-k4v": {"map_k4v_n": 2, "map_k4v_m": k},
           "ngram-mod": {"mod_n_match": 2, "mod_n_min": 1, "mod_n_max": k},
           "chain": {"chain": "ngram-mod,ngram-cache,draft", "mod_n_match": 2, "mod_n_min": 1, "mod_n_max": k}}
    return {"drafter": drafter, "draft_max": k, **own.get(drafter, {})}
