"""Prompt suites for benchmarks and tuning: built-in ones, Spec-Bench's question file, the user's files.

- built-in: `grounded`, `code-edit`, `agentic`, `chat` (a few prompts each, written for this project);
- `spec-bench:<category>[:N]`: the first N (default 4) questions of a Spec-Bench category, read from
  --spec-bench (question.jsonl: summarization, rag, translation, qa, math_reasoning, and the MT-bench ones);
- a file: .jsonl (one object a line with "prompt", "text" or Spec-Bench's "turns") or plain text
  (prompts separated by blank lines);
- a traffic log written by `workbench serve --log` (`replay`): its requests in the order they arrived, each
  conversation through the model's chat template and each completion's prompt as it was sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .engine.errors import WorkbenchError
from .engine.userfiles import SUITE_MAX, read_text

_NOTES = """The meeting on Tuesday agreed three things. First, the release moves from May to June because the
payment provider needs two more weeks of testing. Second, Priya will own the migration guide and share a draft
by Friday. Third, the old export endpoint stays until the end of the year, with a warning in every response."""

_CODE = '''def load_config(path):
    with open(path) as f:
        data = json.load(f)
    if "name" not in data:
        raise ValueError("config has no name")
    if "version" not in data:
        raise ValueError("config has no version")
    return data'''

BUILTIN: dict[str, list[str]] = {
    "grounded": [
        f"Here are meeting notes:\n\n{_NOTES}\n\nSummarise the notes as three bullet points, reusing their wording.",
        f"Here are meeting notes:\n\n{_NOTES}\n\nWho owns the migration guide, and when is the draft due? Quote the notes.",
        "Here is a product description: The Aurora desk lamp has a dimmable LED, a USB-C port for charging a phone, "
        "and an arm that folds flat for travel. It comes in black, white and sage green.\n\n"
        "Write a short advert that mentions every feature in the description.",
    ],
    "code-edit": [
        f"Here is a Python function:\n\n{_CODE}\n\nRewrite it so that it uses pathlib.Path.read_text instead of open. "
        "Keep everything else the same and show the whole function.",
        f"Here is a Python function:\n\n{_CODE}\n\nAdd type hints and a docstring. Show the whole function.",
    ],
    "agentic": [
        'List five cities as JSON objects, one per line, each like {"city": "Paris", "country": "France", '
        '"continent": "Europe"}.',
        "Write a numbered checklist of ten steps for deploying a web service, each step in the form "
        "'Step N: <action> - Status: pending'.",
        'Produce a JSON array of six tasks, each {"id": N, "title": "...", "done": false, "owner": "team"}.',
    ],
    "chat": [
        "What are three good habits for writing clear emails?",
        "Explain in a few sentences why the sky is blue.",
        "Give me a short recipe for a tomato soup.",
    ],
}


def _jsonl_rows(path: str | Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a JSON-lines file with their line numbers; a line that is not a JSON object (or nests
    past what the parser takes) is one line naming its number."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise WorkbenchError(f"{path}: line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise WorkbenchError(f"{path}: line {number} is not a JSON object")
        rows.append((number, row))
    return rows


def _prompt_of(path: str | Path, number: int, row: dict[str, Any]) -> str:
    """A row's prompt: "prompt" or "text" (a string), or the first of "turns" (a list of strings)."""
    for key in ("prompt", "text"):
        if key in row and row[key] is not None:
            value = row[key]
            if not isinstance(value, str) or not value:
                raise WorkbenchError(f'{path}: line {number}: "{key}" must be a non-empty string')
            return _checked_text(path, number, key, value)
    if "turns" in row:
        turns = row["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise WorkbenchError(f'{path}: line {number}: "turns" must be a non-empty list of strings')
        return _checked_text(path, number, "turns", turns[0])
    raise WorkbenchError(f'{path}: line {number} has no "prompt", "text" or "turns"')


def _checked_text(path: str | Path, number: int, key: str, value: str) -> str:
    try:
        value.encode("utf-8")  # JSON's \ud800 escapes make strings no tokenizer can take
    except UnicodeEncodeError:
        raise WorkbenchError(f'{path}: line {number}: "{key}" holds a lone surrogate (not text)') from None
    return value


def spec_bench(path: str | Path, category: str, count: int = 4) -> list[str]:
    rows = _jsonl_rows(path, read_text(path, "Spec-Bench file", SUITE_MAX))
    chosen = [_prompt_of(path, n, r) for n, r in rows if r.get("category") == category]
    if not chosen:
        cats = sorted({str(r.get("category")) for _, r in rows})
        raise WorkbenchError(f"no Spec-Bench questions in category {category!r}; categories: {', '.join(cats)}")
    return chosen[:count]


def read_file(path: str | Path) -> list[str]:
    text = read_text(path, "prompt file", SUITE_MAX)
    if Path(path).suffix == ".jsonl":
        prompts = [_prompt_of(path, n, row) for n, row in _jsonl_rows(path, text)]
    else:
        prompts = [block.strip() for block in text.split("\n\n") if block.strip()]
    if not prompts:
        raise WorkbenchError(f"{path} holds no prompts")
    return prompts


def shipped_spec_bench() -> Path:
    """Spec-Bench's question file as shipped inside the package (Apache-2.0; data/spec_bench/README.md)."""
    return Path(__file__).resolve().parent / "data" / "spec_bench" / "question.jsonl"


def load(name: str, spec_bench_path: str | Path | None = None) -> list[str]:
    """A suite by name (built-in or spec-bench:<category>[:N]) or by file path."""
    if name in BUILTIN:
        return list(BUILTIN[name])
    if name.startswith("spec-bench:"):
        _, category, *count = name.split(":")
        try:
            n = int(count[0]) if count else 4
        except ValueError:
            raise WorkbenchError(f"{name}: the count after the category must be a whole number") from None
        return spec_bench(spec_bench_path or shipped_spec_bench(), category, n)
    if os.path.lexists(Path(name).expanduser()):
        return read_file(name)
    raise WorkbenchError(f"no suite {name!r}: use {', '.join(BUILTIN)}, spec-bench:<category>[:N] or a file")


TRAFFIC = "workbench-traffic"  # the "kind" of every line of a traffic log (serve/traffic.py)


class RequestStream(list):
    """Prompts to replay in their order, as one stream of requests: drafters that learn across requests (the suffix
    cache, ngram-mod, ngram-cache's dynamic cache) see the same history as they did when the requests were served.
    bench keeps the order and forgets learnt state only between configurations, never between these prompts. A
    slice is a stream too (tune screens on the first requests)."""

    def __getitem__(self, index):  # noqa: ANN001, ANN204 (list's own signature)
        got = super().__getitem__(index)
        return RequestStream(got) if isinstance(index, slice) else got


def is_traffic(path: str | Path | None) -> bool:
    """Whether `path` is a traffic log: its first line says so."""
    if path is None:
        return False
    p = Path(path).expanduser()
    if p.suffix != ".jsonl" or not p.is_file():
        return False
    try:
        with p.open(encoding="utf-8") as f:
            first = f.readline(1 << 20)
        return json.loads(first).get("kind") == TRAFFIC
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def replay(path: str | Path, template: Callable[[list[dict[str, str]]], str]) -> RequestStream:
    """A traffic log's requests as prompts, in order: a conversation through `template` (the model's chat
    template, as the server applied it), a completion's prompt as sent."""
    prompts = RequestStream()
    lines = read_text(path, "traffic log", SUITE_MAX).splitlines()  # a regular file, bounded, as every suite
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise WorkbenchError(f"{path}: line {number} is not JSON (a line cut short?)") from None
        if not isinstance(row, dict):
            row = {}  # a line that is not an object holds no request: refused below with its number
        messages, prompt = row.get("messages"), row.get("prompt")
        if isinstance(messages, list) and messages and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            prompts.append(template([{"role": m["role"], "content": m["content"]} for m in messages]))
        elif isinstance(prompt, str) and prompt:
            prompts.append(prompt)
        else:
            raise WorkbenchError(f'{path}: line {number} has neither "messages" nor "prompt"')
    if not prompts:
        raise WorkbenchError(f"{path} holds no requests")
    return prompts
