"""The demo's built-in prompt: a grounded task whose answer repeats much of its input, so prompt lookup
and the draft model both have something to get right, and the colours show from the first tokens."""

DEMO_PROMPT = """Here are the release notes of a small library:

- The parser now accepts trailing commas in lists and objects.
- The command line tool prints a clear error when the input file is missing.
- Numbers with leading zeros are rejected instead of being read as octal.
- The documentation has a new section on streaming large files.
- The minimum supported Python version is now 3.11.

Rewrite each of these five release notes as a full sentence that starts with "In this release,"."""
