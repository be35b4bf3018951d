"""Does the app slow generation down? The same generation, headless and inside the running app.

Runs both in one process, interleaved (the order alternates each round), on the same model, prompt
and settings, and prints tokens/s for each and the ratio app / headless (the goal: at least 0.95).
The app runs headless (Textual's test driver) but does everything it does on a screen: drains
events at 15 Hz into the token stream, redraws plots, updates the status line and system panel.

    python benchmarks/app_vs_headless.py [-m MODEL.gguf] [--drafter lookup] [-n 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from workbench.app.app import WorkbenchApp
from workbench.defaults import resolve_model
from workbench.engine.models import LoadOptions
from workbench.engine.session import Engine
from workbench.engine.settings import Settings
from workbench.suites import spec_bench


async def in_app(model: str, prompt: str, settings: Settings, n: int, threads: int) -> float:
    app = WorkbenchApp(model, "", settings, prompt=prompt, n_predict=n, load_options=LoadOptions(n_threads=threads))
    async with app.run_test(size=(120, 40)) as pilot:
        while app.engine is None:
            await pilot.pause(0.05)
        app.action_run()
        while app.running or app.transcript.done is None:
            await pilot.pause(0.05)
        rate = app.transcript.stats.tokens_per_second
        await app.action_quit()
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-m", "--model", default="embedded")
    p.add_argument("--drafter", default="lookup")
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--spec-bench", default="../shared/bench/spec_bench/question.jsonl")
    p.add_argument("--category", default="summarization")
    p.add_argument("-t", "--threads", type=int, default=2, help="llama.cpp threads (default 2)")
    args = p.parse_args()
    question = spec_bench(args.spec_bench, args.category, 1)[0]
    settings = Settings(drafter=args.drafter, draft_max=6)
    engine = Engine.load(resolve_model(args.model), None, LoadOptions(n_threads=args.threads))
    prompt = engine.target.chat_prompt(question)
    headless: list[float] = []
    app: list[float] = []
    for r in range(args.repeat):
        for which in (("headless", "app") if r % 2 == 0 else ("app", "headless")):
            if which == "headless":
                engine.forget()
                t = engine.generate(prompt, args.n, **{k: getattr(settings, k) for k in ("drafter", "draft_max")})
                headless.append(t.stats.tokens_per_second)
            else:
                engine.close()  # one model in memory at a time, as a user has
                app.append(asyncio.run(in_app(args.model, question, settings, args.n, args.threads)))
                engine = Engine.load(resolve_model(args.model), None, LoadOptions(n_threads=args.threads))
            print(f"round {r + 1}: {which:8s} {(headless if which == 'headless' else app)[-1]:6.1f} tok/s", flush=True)
    engine.close()
    h, a = statistics.median(headless), statistics.median(app)
    print(f"\nheadless {h:.1f} tok/s, app {a:.1f} tok/s (medians of {args.repeat}); app / headless = {a / h:.3f}")


if __name__ == "__main__":
    main()
