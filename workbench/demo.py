"""The demo: its pair, drafter and built-in prompt.

The prompts are grounded tasks whose answers repeat much of their input, so the n-gram cache and the draft model
both have something to get right, and the colours show from the first tokens. The demo goes round them (the app's
Opening.loop): one answer is over in a few seconds, an audience needs a run that lasts.

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

DEMO_PROMPT = DEMO_RELEASE_NOTES = """Here are the release notes of a small library:

- The parser now accepts trailing commas in lists and objects.
- The command line tool prints a clear error when the input file is missing.
- Numbers with leading zeros are rejected instead of being read as octal.
- The documentation has a new section on streaming large files.
- The minimum supported Python version is now 3.11.

Rewrite each of these five release notes as a full sentence that starts with "In this release,"."""

DEMO_MEETING = """Here are the notes of a team meeting:

- The design review of the new search page moves from Monday to Wednesday at ten.
- Anna will send the updated mock-ups to everyone before the review.
- The database migration is finished and the old tables will be deleted next Friday.
- The team agreed to write a short test plan for every new feature.
- The next planning meeting is on the first Tuesday of the month.

Write an email to the team that repeats each of these five points in a full sentence, then thanks them."""

DEMO_RECIPE = """Here is a recipe:

Ingredients: two cups of flour, one cup of milk, two eggs, a spoon of sugar, a pinch of salt and butter for the pan.
Steps: mix the flour, the sugar and the salt in a bowl. Add the eggs and the milk and whisk until smooth. Let the
batter rest for ten minutes. Melt a little butter in a hot pan, pour in a ladle of batter and cook each side for
one minute.

Rewrite this recipe as numbered steps, naming every ingredient with its amount in the step that uses it."""

DEMO_PROMPTS = (DEMO_RELEASE_NOTES, DEMO_MEETING, DEMO_RECIPE)  # the demo goes round them, one run each

# `workbench demo --moe`: the same tour on the embedded model made a Mixture-of-Experts (engine/moe.py), its dense
# Q8_0 as the draft. At 8 of 8 experts the target is the dense model, so the draft agrees as in the demo; turning the
# experts field down reloads the target (the notice says in how long), marks the stream and steps the plots: faster
# target steps, and an acceptance that falls with the target's quality (an untrained router: see the README).
DEMO_MOE_TARGET, DEMO_MOE_DRAFT = "embedded:moe", "embedded:Q8_0"
