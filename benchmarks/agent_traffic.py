"""Cross-request drafting on an agent-like request stream, through `workbench serve` and the official openai client.

    python benchmarks/agent_traffic.py [-m embedded:F16] [-md embedded] [--threads 2] [--requests 24]
                                       [--max-tokens 96] [--repeat 3]
                                       [--drafters suffix,ngram-mod,ngram-cache,lookup,chain,draft]

The session: a source file in the first user turn, then turns that ask to quote, change or extend parts of it;
every request resends the whole conversation so far with the model's earlier replies appended, as a coding
agent does. Fixed prompts, greedy (temperature 0), the same max_tokens for every request.

Per configuration (plain decoding, then each drafter) one `workbench serve` process runs the whole session;
each drafter runs it twice: learning across requests (what the server does) and with `"forget": true` on every
request (the workbench's request extension: each request starts with empty cross-request state, its own
prompt still available to every drafter). ngram-cache keeps its dynamic cache across requests in memory (the
server's, as llama-server's `--lookup-cache-dynamic` does within a process).

Figures per session, from the server's own per-response `timings` and `workbench` objects:
tokens/s = generated tokens over decode time summed over the session's requests (prompt processing excluded,
as llama-server's predicted_per_second); speedup = that rate over plain decoding's in the same round (rounds
interleave the configurations in a rotated order; the figure is the median of the per-round ratios, min-max
beside); acceptance = accepted / drafted tokens over the session; mean accepted length = accepted per drafting
step + 1; session s = wall time of the whole session at the client. The `learn - forget` column is what
cross-request state is worth: the speedup learning across requests minus the speedup forgetting.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field

from serve_common import Served

SOURCE = '''import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Item:
    name: str
    quantity: int = 0
    price: float = 0.0
    tags: list[str] = field(default_factory=list)

    def total(self) -> float:
        return self.quantity * self.price


class Inventory:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        if item.name in self.items:
            self.items[item.name].quantity += item.quantity
        else:
            self.items[item.name] = item

    def remove(self, name: str, quantity: int) -> None:
        item = self.items[name]
        if quantity > item.quantity:
            raise ValueError(f"only {item.quantity} of {name} left")
        item.quantity -= quantity

    def value(self) -> float:
        return sum(item.total() for item in self.items.values())

    def save(self, path: Path) -> None:
        rows = [{"name": i.name, "quantity": i.quantity, "price": i.price, "tags": i.tags}
                for i in self.items.values()]
        path.write_text(json.dumps(rows, indent=2))

    @classmethod
    def load(cls, path: Path) -> "Inventory":
        inventory = cls()
        for row in json.loads(path.read_text()):
            inventory.add(Item(**row))
        return inventory
'''

TURNS = [
    f"Here is a Python module, inventory.py:\n\n```python\n{SOURCE}```\n\nQuote the Item class exactly.",
    "Quote the add method of Inventory exactly.",
    "Rewrite the remove method so that it also deletes the item when its quantity reaches zero. Show the whole method.",
    "Quote the save method exactly.",
    "Change save so that it sorts the rows by name before writing them. Show the whole method.",
    "Add a method `names(self) -> list[str]` to Inventory that returns the item names sorted. Show only the new method.",
    "Quote the load classmethod exactly.",
    "Rewrite load so that it raises ValueError with a clear message when the file is not a JSON list. Show the whole method.",
    "Show the Item class again with a docstring added.",
    "Add a method `by_tag(self, tag: str) -> list[Item]` to Inventory. Show only the new method.",
    "Quote the value method exactly.",
    "Rewrite value so that it skips items with a quantity of zero. Show the whole method.",
    "Show the full Inventory class with the changes so far.",
    "Add type hints to every method of Inventory that lacks them, and show the whole class.",
    "Quote the remove method as you last wrote it.",
    "Write a pytest test for add that adds the same item twice and checks the quantity. Show only the test.",
    "Write a pytest test for remove that checks the ValueError. Show only the test.",
    "Write a pytest test for save and load together using tmp_path. Show only the test.",
    "Show the Item class again, unchanged from your last version.",
    "Add a `__len__` method to Inventory that returns the number of items. Show only the new method.",
    "Show the whole module with every change so far.",
    "Summarise in three bullet points what changed in the module.",
    "Quote the save method as you last wrote it.",
    "Show the test for save and load again, unchanged.",
]


@dataclass
class Session:
    tokens: int = 0
    decode_ms: float = 0.0
    drafted: int = 0
    accepted: int = 0
    drafting_steps: int = 0
    wall: float = 0.0
    replies: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return 1000 * self.tokens / self.decode_ms if self.decode_ms else 0.0


def run_session(client, turns: list[str], max_tokens: int, forget: bool) -> Session:
    session, messages = Session(), []
    start = time.perf_counter()
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        reply = client.chat.completions.create(model="workbench", messages=messages, max_tokens=max_tokens,
                                               temperature=0, extra_body={"forget": True} if forget else None)
        text = reply.choices[0].message.content
        messages.append({"role": "assistant", "content": text})
        extra = reply.model_extra
        session.tokens += extra["timings"]["predicted_n"]
        session.decode_ms += extra["timings"]["predicted_ms"]
        session.drafted += extra["workbench"]["drafted"]
        session.accepted += extra["workbench"]["accepted"]
        session.drafting_steps += extra["workbench"]["drafting_steps"]
        session.replies.append(text)
    session.wall = time.perf_counter() - start
    return session


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-m", "--model", default="embedded:F16")
    p.add_argument("-md", "--model-draft", default="embedded", help="draft model for the draft drafter and the chain "
                                                                  "('' for none)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("-c", "--ctx-size", type=int, default=8192)
    p.add_argument("--requests", type=int, default=len(TURNS), help=f"requests per session (at most {len(TURNS)})")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--drafters", default="suffix,ngram-mod,ngram-cache,lookup,chain,draft")
    args = p.parse_args()
    turns = TURNS[:args.requests]
    drafters = [d for d in args.drafters.split(",") if d and (d != "draft" or args.model_draft)]
    configs = [("none", False)] + [(d, forget) for d in drafters for forget in (False, True)]
    results: dict[tuple[str, bool], list[Session]] = {c: [] for c in configs}
    base = ["-m", args.model, "-t", str(args.threads), "-c", str(args.ctx_size), "--queue", "1"]
    for r in range(args.repeat):
        shift = r % len(configs)
        for drafter, forget in configs[shift:] + configs[:shift]:
            chain = "ngram-mod,suffix,draft" if args.model_draft else "ngram-mod,suffix"  # llama.cpp's order
            flags = [*base, "--drafter", chain if drafter == "chain" else drafter]
            if args.model_draft and drafter in ("draft", "chain"):
                flags += ["-md", args.model_draft]
            with Served(flags) as server:
                session = run_session(server.client(), turns, args.max_tokens, forget)
            results[(drafter, forget)].append(session)
            print(f"round {r + 1}: {drafter}{' (forget)' if forget else ''}: {session.rate:.1f} tok/s", flush=True)
    plain = results[("none", False)]
    reference = plain[0].replies
    print(f"\n{args.model} ({args.threads} threads): {len(turns)} requests x {args.max_tokens} tokens, greedy, "
          f"{args.repeat} interleaved rounds")
    print(f"{'drafter':<13} {'state':<7} {'tok/s':>7} {'min-max':>13} {'speedup':>8} {'min-max':>11} "
          f"{'accept':>7} {'mean len':>8} {'session s':>9} {'learn-forget':>12} {'output':>9}")
    speedups: dict[tuple[str, bool], float] = {}
    for config in configs:
        runs = results[config]
        rates = [s.rate for s in runs]
        ratios = [s.rate / q.rate for s, q in zip(runs, plain, strict=True) if q.rate]
        speedups[config] = statistics.median(ratios) if ratios else 0.0
    for drafter, forget in configs:
        runs = results[(drafter, forget)]
        rates = [s.rate for s in runs]
        ratios = [s.rate / q.rate for s, q in zip(runs, plain, strict=True) if q.rate]
        drafted, accepted = sum(s.drafted for s in runs), sum(s.accepted for s in runs)
        steps = sum(s.drafting_steps for s in runs)
        gain = "" if drafter == "none" or forget else f"{speedups[(drafter, False)] - speedups[(drafter, True)]:+.2f}x"
        same = "same" if runs[0].replies == reference else "differs"
        print(f"{'plain' if drafter == 'none' else drafter:<13} {'-' if drafter == 'none' else 'forget' if forget else 'learn':<7} "
              f"{statistics.median(rates):7.1f} {min(rates):6.1f}-{max(rates):<6.1f} {speedups[(drafter, forget)]:7.2f}x "
              f"{min(ratios):5.2f}-{max(ratios):<5.2f} "
              f"{(f'{100 * accepted / drafted:.0f}%' if drafted else '-'):>7} "
              f"{(accepted / steps + 1 if steps else 1.0):8.2f} {statistics.median(s.wall for s in runs):9.1f} "
              f"{gain:>12} {same:>9}")
    print("\noutput: the session's replies against plain decoding's (greedy batched verification may differ at a "
          "near-tie; README 'What is guaranteed')")


if __name__ == "__main__":
    main()
