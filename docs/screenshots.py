"""Write the README's pictures: `workbench demo` mid-run, as SVG, at 80x24 and 160x45.

    python docs/screenshots.py [--tokens 40]

Runs the demo exactly as `workbench demo` opens it (its pair, chain, prompt and threads), headless through
Textual's test driver, waits until the plain baseline is measured and the run has produced --tokens tokens,
and saves the screen. The numbers on them are this machine's, measured while it ran.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from workbench import launch
from workbench.cli import build_parser

SIZES = {"demo-80x24.svg": (80, 24), "screenshot.svg": (160, 45)}


def demo_app():  # noqa: ANN201 (WorkbenchApp)
    captured = []
    launch.run = lambda app: captured.append(app) or 0  # open_demo builds the app; keep it instead of running it
    args = build_parser().parse_args(["demo"])
    args.func(args)
    return captured[0]


async def shoot(name: str, size: tuple[int, int], tokens: int) -> None:
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        for _ in range(1200):  # two minutes at most
            await pilot.pause(0.1)
            main = app.main
            if main.plot_data.baseline and main.transcript.stats.n_emitted >= tokens:
                break
        main.view.prompt.cursor_blink = False
        main.view.replot()
        await pilot.pause(0.3)
        app.save_screenshot(name, str(Path(__file__).parent))
        main.action_stop()
        await pilot.pause(0.5)
    print(f"docs/{name}: {size[0]}x{size[1]}, {main.status_line()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=40)
    args = ap.parse_args()
    for name, size in SIZES.items():
        asyncio.run(shoot(name, size, args.tokens))


if __name__ == "__main__":
    main()
