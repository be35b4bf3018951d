"""What the journal costs per verify step: appending a step's events (K+1 token events and the step event)
as JSON lines and flushing them to the kernel, in microseconds, against the step itself (milliseconds).

No model is needed: the events are those of a typical step, written into a journal in a temporary folder
(or --dir, to measure a given disk). Prints one table: events per step, microseconds per step (median and
95th percentile over the steps), bytes per step.

    python benchmarks/journal_cost.py [--steps 20000] [--k 4,8,16] [--dir /some/disk]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from workbench.engine.events import Fate, Source, StepEvent, TokenEvent
from workbench.journal import Journal


def step_events(step: int, k: int) -> list:
    tokens = [TokenEvent(300 + i, " token", Source.LOOKUP, Fate.ACCEPTED, step, i) for i in range(k)]
    tokens.append(TokenEvent(301, " bonus", Source.TARGET, Fate.BONUS, step, k))
    return [*tokens, StepEvent(step, Source.LOOKUP, k, k, k, k + 1, 0.0001, 0.02, 0.02 * step)]


def measure(folder: Path, steps: int, k: int) -> tuple[float, float, float]:
    journal = Journal({"prompt": "p", "models": {"target": "t.gguf"}, "settings": {}}, folder)
    times = []
    for step in range(steps):
        events = step_events(step, k)
        start = time.perf_counter()
        for event in events:
            journal.add(event)
        times.append(time.perf_counter() - start)
    journal.recorder.close()
    size = journal.path.stat().st_size
    journal.discard()
    times.sort()
    return 1e6 * statistics.median(times), 1e6 * times[int(0.95 * len(times))], size / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--k", default="4,8,16", help="draft lengths (every token accepted: the largest steps)")
    parser.add_argument("--dir", default=None, help="where the journal goes (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        print(f"{'K':>3} {'events/step':>12} {'us/step median':>15} {'us/step p95':>12} {'bytes/step':>11}")
        for k in (int(x) for x in args.k.split(",")):
            median, p95, size = measure(Path(folder), args.steps, k)
            print(f"{k:>3} {k + 2:>12} {median:>15.1f} {p95:>12.1f} {size:>11.0f}")


if __name__ == "__main__":
    main()
