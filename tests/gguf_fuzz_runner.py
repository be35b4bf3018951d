"""Runs mutated GGUF files through what a user's `-m FILE` reaches (the header check, inspect, a llama.cpp
load), each in a time limit, in a process with a memory limit; prints one JSON line per case.
Used by tests/test_gguf_fuzz.py as a subprocess so that a crash or runaway memory cannot take pytest down."""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from pathlib import Path


class Slow(Exception):
    pass


def _alarm(_signum, _frame):
    raise Slow


def main() -> None:
    folder, limit_mb = Path(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 2**20, limit_mb * 2**20))
    signal.signal(signal.SIGALRM, _alarm)
    from workbench.engine.errors import WorkbenchError
    from workbench.engine.gguf_info import inspect
    from workbench.engine.models import LoadOptions, Model

    for path in sorted(folder.glob("*.gguf")):
        start = time.monotonic()
        outcome, message = "ok", ""
        signal.alarm(10)
        try:
            inspect(path)
            Model(path, LoadOptions(n_ctx=64, n_threads=1)).close()
        except WorkbenchError as e:
            outcome, message = "refused", str(e)
        except Slow:
            outcome = "hang"
        except MemoryError:
            outcome = "memory"
        except Exception as e:  # noqa: BLE001 (what the test looks for)
            outcome, message = "exception", f"{type(e).__name__}: {e}"
        finally:
            signal.alarm(0)
        print(json.dumps({"case": path.name, "outcome": outcome, "message": message,
                          "seconds": round(time.monotonic() - start, 3)}), flush=True)


if __name__ == "__main__":
    main()
