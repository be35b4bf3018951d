"""Hostile and broken GGUF files: every case ends within seconds, under a memory limit, with a load or one
clear line; never a traceback, a hang or a crash. Mutations of a tiny generated model (fixed seed): byte
flips in the header, truncations, swapped value types, huge counts and lengths; plus the cases that once
failed, kept as recipes in tests/gguf_regressions/ (applied to the same deterministic tiny model)."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SEED = 20261124
MEMORY_LIMIT_MB = 2048


def header_fields(data: bytes) -> tuple[list[int], list[int], int]:
    """Offsets of every metadata value type, of every u64 count or length in the metadata, and the header's end."""
    pos = 24
    n_kv = struct.unpack_from("<Q", data, 16)[0]
    types, counts = [], []

    def string() -> None:
        nonlocal pos
        counts.append(pos)
        pos += 8 + struct.unpack_from("<Q", data, pos)[0]

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    for _ in range(n_kv):
        string()
        types.append(pos)
        vtype = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        if vtype == 8:
            string()
        elif vtype == 9:
            etype = struct.unpack_from("<I", data, pos)[0]
            counts.append(pos + 4)
            n = struct.unpack_from("<Q", data, pos + 4)[0]
            pos += 12
            if etype == 8:
                for _ in range(n):
                    string()
            else:
                pos += n * sizes[etype]
        else:
            pos += sizes[vtype]
    return types, counts, pos


def mutations(data: bytes, rng: random.Random) -> list[tuple[str, list[tuple[int, bytes]] | int]]:
    """(name, edits) where edits are (offset, new bytes) or an int: truncate to that length."""
    types, counts, header_end = header_fields(data)
    cases: list[tuple[str, list[tuple[int, bytes]] | int]] = []
    for i in range(60):  # value types swapped pairwise
        a, b = rng.sample(types, 2)
        cases.append((f"swap-types-{i}", [(a, data[b:b + 4]), (b, data[a:a + 4])]))
    for i in range(60):  # counts and lengths made huge or odd
        at = rng.choice(counts)
        value = rng.choice([2**64 - 1, 2**63, 7 * 10**18, 2**32, len(data), len(data) * 8, 0])
        cases.append((f"huge-count-{i}", [(at, struct.pack("<Q", value))]))
    for i in range(60):  # a value type set to anything
        cases.append((f"odd-type-{i}", [(rng.choice(types), struct.pack("<I", rng.choice([9, 13, 255, 2**31, 8])))]))
    for i in range(80):  # random bytes flipped in the header
        at = rng.randrange(4, header_end + 200)
        cases.append((f"flip-{i}", [(at, bytes([data[at] ^ (1 << rng.randrange(8))]))]))
    for i in range(40):  # truncated anywhere
        cases.append((f"cut-{i}", rng.randrange(0, len(data))))
    cases += [("tensor-count", [(8, struct.pack("<Q", 2**62))]), ("kv-count", [(16, struct.pack("<Q", 2**62))]),
              ("version", [(4, struct.pack("<I", 99))]), ("empty", 0), ("magic-only", 4)]
    return cases


def apply(data: bytes, edits: list[tuple[int, bytes]] | int) -> bytes:
    if isinstance(edits, int):
        return data[:edits]
    out = bytearray(data)
    for at, new in edits:
        out[at:at + len(new)] = new
    return bytes(out)


def run_cases(folder: Path) -> list[dict]:
    start = time.monotonic()
    r = subprocess.run([sys.executable, str(HERE / "gguf_fuzz_runner.py"), str(folder), str(MEMORY_LIMIT_MB)],
                       capture_output=True, text=True, timeout=300)
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    expected = len(list(folder.glob("*.gguf")))
    assert len(results) == expected, f"the runner stopped after {len(results)} of {expected} cases " \
                                     f"(exit {r.returncode}): {r.stderr[-2000:]}"
    assert time.monotonic() - start < 240
    return results


def check(results: list[dict]) -> None:
    bad = [r for r in results if r["outcome"] not in ("ok", "refused")]
    assert bad == [], bad[:5]
    for r in results:
        assert r["seconds"] < 10, r
        if r["outcome"] == "refused":
            assert "\n" not in r["message"] and "Traceback" not in r["message"] and len(r["message"]) < 400, r


def test_a_few_hundred_damaged_ggufs_end_cleanly(tiny_target, tmp_path):
    data = tiny_target.read_bytes()
    cases = mutations(data, random.Random(SEED))
    for name, edits in cases:
        (tmp_path / f"{name}.gguf").write_bytes(apply(data, edits))
    results = run_cases(tmp_path)
    check(results)
    refused = sum(r["outcome"] == "refused" for r in results)
    assert len(results) >= 300 and refused > len(results) // 2  # most damage is caught, the rest loads


def test_the_cases_that_once_failed(tiny_target, tmp_path):
    data = tiny_target.read_bytes()
    recipes = json.loads((HERE / "gguf_regressions" / "cases.json").read_text())
    for case in recipes:
        edits = case["edits"] if isinstance(case["edits"], int) else [(at, bytes.fromhex(b)) for at, b in case["edits"]]
        (tmp_path / f"{case['name']}.gguf").write_bytes(apply(data, edits))
    results = run_cases(tmp_path)
    check(results)
    assert all(r["outcome"] == "refused" for r in results)


def test_a_named_pipe_is_refused_at_once(tmp_path):
    from workbench.engine.errors import WorkbenchError
    from workbench.engine.gguf_info import inspect

    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(WorkbenchError, match="named pipe"):
        inspect(fifo)
    assert time.monotonic() - start < 1


def test_the_swapped_types_file_is_one_line_from_the_command(tiny_target, tmp_path):
    data = tiny_target.read_bytes()
    recipe = json.loads((HERE / "gguf_regressions" / "cases.json").read_text())[0]
    bad = tmp_path / "swapped.gguf"
    bad.write_bytes(apply(data, [(at, bytes.fromhex(b)) for at, b in recipe["edits"]]))
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--headless", "-m", str(bad), "-p", "hi"],
                       capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 20
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("workbench: error:") and r.stderr.count("\n") == 1


def test_llama_cpps_own_reason_reaches_the_user(tiny_target, tmp_path):
    """A file our header check passes but llama.cpp refuses: the user reads llama.cpp's error (ERROR is level
    4 in ggml's log), not "unknown reason" nor an unrelated INFO line."""
    from workbench.engine.errors import WorkbenchError
    from workbench.engine.models import LoadOptions, Model

    data = tiny_target.read_bytes()
    types, _, _ = __import__("test_gguf_fuzz").header_fields(data)
    epsilon = next(t for t in types if struct.unpack_from("<I", data, t)[0] == 6 and b"rms_epsilon" in data[t - 40:t])
    bad = tmp_path / "wrong-type.gguf"
    bad.write_bytes(apply(data, [(epsilon, struct.pack("<I", 4))]))  # the f32 epsilon declared a u32
    with pytest.raises(WorkbenchError) as e:
        Model(bad, LoadOptions(n_ctx=64, n_threads=1))
    message = str(e.value)
    assert "layer_norm_rms_epsilon has wrong type" in message and "\n" not in message
    assert "unknown reason" not in message and "print_info" not in message
