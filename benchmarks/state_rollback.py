"""What speculation costs and buys on a recurrent target: its two ways of keeping the state (engine/state.py)
against plain decoding, in one process, interleaved rounds.

    python benchmarks/state_rollback.py [--size tiny|130m] [--rounds 3] [-n 128] [-t 2]

A Mamba model is generated with the tests' writer (tests/tinymodels.py): `tiny` (2 layers, 64 wide: the tests'
model) or `130m` (Mamba-130M's shape: 24 layers, 768 wide, random F32 weights, written once into the user cache
dir). Two drafters show the two costs apart:
- `self`: the model is its own draft model (K tokens, all accepted): no rollback is ever needed, so the state
  column is what keeping the state aside costs a step;
- `lookup`: prompt lookup, which a random model's output refuses: every step restores the state and
  re-evaluates the accepted tokens (at least the one before the draft), the worst case.
For each way of keeping the state it prints tokens/s (median, min-max), the ratio to plain decoding of the same
round, acceptance and the milliseconds per drafting step spent keeping and restoring the state (the accepted
tokens' re-evaluation after a rejection included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import tinymodels  # noqa: E402

from workbench.engine.models import LoadOptions  # noqa: E402
from workbench.engine.session import Engine  # noqa: E402
from workbench.engine.state import rollback_for  # noqa: E402

SIZES = {"tiny": {}, "130m": {"n_layer": 24, "n_embd": 768}}
PROMPT = ("the model is fast and the draft is slow and the model is fast and the draft is slow and the model is "
          "fast and the draft is slow and the model is fast and the")


def model_path(size: str) -> Path:
    from platformdirs import user_cache_dir

    folder = Path(user_cache_dir("workbench")) / "bench-models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"mamba-{size}.gguf"
    if not path.exists():
        tinymodels.write_mamba(path, n_ctx=2048, **SIZES[size])
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="130m")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-k", type=int, default=4)
    ap.add_argument("--drafter", choices=("self", "lookup"), default="self")
    args = ap.parse_args()
    path = model_path(args.size)
    options = LoadOptions(n_ctx=2048, n_threads=args.threads)
    engine = Engine.load(path, path if args.drafter == "self" else None, options)
    target = engine.target
    kinds = {"plain": None, "copy": rollback_for(target, "copy"), "snapshot": rollback_for(target, "snapshot")}
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    state_ms: dict[str, list[float]] = {k: [] for k in kinds}
    acceptance: dict[str, list[float]] = {k: [] for k in kinds}
    engine.generate(PROMPT, 8, drafter="none")  # warm-up
    for r in range(args.rounds):
        order = list(kinds)[r % 3:] + list(kinds)[:r % 3]
        for kind in order:
            if kinds[kind] is not None:
                target.rollback = kinds[kind]
            drafter = "draft" if args.drafter == "self" else "lookup"
            settings = {"drafter": "none"} if kind == "plain" else {"drafter": drafter, "draft_max": args.k,
                                                                     "draft_gate": "off"}
            s = engine.generate(PROMPT, args.n, **settings).stats
            rates[kind].append(s.tokens_per_second)
            state_ms[kind].append(s.state_ms_per_step)
            acceptance[kind].append(s.acceptance)
    print(f"Mamba {args.size} ({path.stat().st_size / 2**20:.0f} MiB F32), {args.threads} threads, {args.drafter} K={args.k}, "
          f"{args.n} tokens, {args.rounds} interleaved rounds")
    print(f"{'state kept by':<14}{'tok/s':>9}{'min-max':>16}{'vs plain':>10}{'min-max':>13}{'accept':>8}"
          f"{'state ms/step':>15}")
    for kind in kinds:
        ratios = [a / b for a, b in zip(rates[kind], rates["plain"], strict=True)]
        spread = f"{min(rates[kind]):.1f}-{max(rates[kind]):.1f}"
        print(f"{kind:<14}{statistics.median(rates[kind]):>9.1f}{spread:>16}"
              f"{statistics.median(ratios):>9.2f}x{min(ratios):>7.2f}-{max(ratios):<5.2f}"
              f"{100 * statistics.median(acceptance[kind]):>7.0f}%{statistics.median(state_ms[kind]):>15.2f}")
    engine.close()


if __name__ == "__main__":
    main()
