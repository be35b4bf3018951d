"""The demo: its pair, drafter and built-in prompt.

The prompt is a grounded task whose answer repeats much of its input, so the n-gram cache and the draft model
both have something to get right, and the colours show from the first tokens.

The pair is made from the one shipped model (nothing is downloaded): SmolLM2-135M in F32 as the target and
in Q8_0 as the draft, derived once with llama.cpp's quantizer. On a CPU a draft pays when it costs a small part
of a target step and agrees with it; measured on 2 cores with the app's one llama.cpp thread, the Q8_0 draft
decodes a token in 11 ms against the F32 target's 32 ms (the ratio of a 1B draft to a 7B target) and agrees on
nearly every greedy token. F16 + Q4_1 (the earlier demo) costs 14 ms per draft token against 15 ms per target
token at one thread: speculation could only lose there (0.62x). The chain `ngram-cache,draft` (llama.cpp's
order) lets the n-gram cache draft the copied phrases for free and the draft model the rest:
`python benchmarks/compare.py --demo -m embedded:F32 -md embedded:Q8_0` measured 1.36x plain decoding
(1.33-1.49 over 3 rounds), draft alone 1.26x, the cascade 1.29x.
"""

DEMO_TARGET, DEMO_DRAFT = "embedded:F32", "embedded:Q8_0"
DEMO_DRAFTER = "ngram-cache,draft"  # a chain, as llama.cpp's --spec-type takes it
DEMO_K = 8

DEMO_PROMPT = """Here are the release notes of a small library:

- The parser now accepts trailing commas in lists and objects.
- The command line tool prints a clear error when the input file is missing.
- Numbers with leading zeros are rejected instead of being read as octal.
- The documentation has a new section on streaming large files.
- The minimum supported Python version is now 3.11.

Rewrite each of these five release notes as a full sentence that starts with "In this release,"."""

# `workbench demo --moe`: the same tour on the embedded model made a Mixture-of-Experts (engine/moe.py), its dense
# Q8_0 as the draft. At 8 of 8 experts the target is the dense model, so the draft agrees as in the demo; turning the
# experts field down reloads the target (the notice says in how long), marks the stream and steps the plots: faster
# target steps, and an acceptance that falls with the target's quality (an untrained router: see the README).
DEMO_MOE_TARGET, DEMO_MOE_DRAFT = "embedded:moe", "embedded:Q8_0"
