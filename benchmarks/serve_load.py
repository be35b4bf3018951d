"""Load on `workbench serve`'s one slot: concurrent clients against a small queue, then a long sequential run.

    python benchmarks/serve_load.py [-m embedded] [--threads 2] [--clients 4] [--per-client 10] [--queue 2]
                                    [--sequential 100] [--max-tokens 32]

1. `--clients` threads each send `--per-client` chat requests (official openai client, no retries) to a server
   started with `--queue`: every answer must be 200, or 503 with a Retry-After header; none lost (every request
   answered) or hung (client timeout 120 s). The server's RSS (psutil) after the run must be within 10% of its
   RSS before it (after one warm-up request).
2. `--sequential` requests one after another: RSS after the last within 5% of RSS after the 10th.
Prints the counts, the RSS figures and PASS/FAIL per check; exit code 1 if a check failed.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter

import openai
import psutil
from serve_common import Served


def rss(server: Served) -> int:
    return psutil.Process(server.proc.pid).memory_info().rss


def ask(client: openai.OpenAI, i: int, max_tokens: int) -> str:
    """One request; its outcome as a short word."""
    try:
        client.chat.completions.create(model="workbench", max_tokens=max_tokens, temperature=0,
                                       messages=[{"role": "user", "content": f"Count from {i} to {i + 20}."}])
        return "200"
    except openai.APIStatusError as e:
        if e.status_code == 503:
            return "503+Retry-After" if e.response.headers.get("Retry-After") else "503 without Retry-After"
        return str(e.status_code)
    except openai.APITimeoutError:
        return "hung"
    except openai.APIConnectionError:
        return "lost"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-m", "--model", default="embedded")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--per-client", type=int, default=10)
    p.add_argument("--queue", type=int, default=2)
    p.add_argument("--sequential", type=int, default=100)
    p.add_argument("--max-tokens", type=int, default=32)
    args = p.parse_args()
    ok = True
    with Served(["-m", args.model, "-t", str(args.threads), "--queue", str(args.queue)]) as server:
        client = server.client(timeout=120)
        ask(client, 0, args.max_tokens)
        before = rss(server)
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()

        def worker(n: int) -> None:
            for j in range(args.per_client):
                outcome = ask(client, n * 100 + j, args.max_tokens)
                with lock:
                    outcomes[outcome] += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = rss(server)
        total = sum(outcomes.values())
        good = outcomes["200"] + outcomes["503+Retry-After"]
        print(f"{args.clients} clients x {args.per_client} requests, --queue {args.queue}: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
        check = total == args.clients * args.per_client and good == total
        ok &= check
        print(f"  every request 200 or 503 with Retry-After, none lost or hung: {'PASS' if check else 'FAIL'}")
        grew = after / before - 1
        ok &= abs(grew) <= 0.10
        print(f"  RSS before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB ({100 * grew:+.1f}%, within 10%): "
              f"{'PASS' if abs(grew) <= 0.10 else 'FAIL'}")
        tenth = 0
        for i in range(args.sequential):
            outcome = ask(client, i, args.max_tokens)
            if outcome != "200":
                ok = False
                print(f"  sequential request {i + 1}: {outcome}: FAIL")
            if i == 9:
                tenth = rss(server)
        last = rss(server)
        if tenth:
            grew = last / tenth - 1
            ok &= abs(grew) <= 0.05
            print(f"{args.sequential} sequential requests: RSS after the 10th {tenth / 2**20:.1f} MiB, after the last "
                  f"{last / 2**20:.1f} MiB ({100 * grew:+.1f}%, within 5%): {'PASS' if abs(grew) <= 0.05 else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
