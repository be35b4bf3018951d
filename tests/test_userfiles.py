"""Files the user owns (engine/userfiles.py and everything routed through it): odd inputs get one line at
once, writes are atomic and never replace a non-file, concurrent writers keep every count, bad presets and
themes are skipped by name."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from workbench.engine.drafters import ngram_cache
from workbench.engine.errors import WorkbenchError
from workbench.engine.userfiles import (
    create_new,
    prune,
    read_bytes,
    read_text,
    write_atomic,
)

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block blocks longer than `seconds`."""
    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def odd_inputs(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    return {"fifo": fifo, "device": Path("/dev/zero"), "directory": folder}


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_odd_inputs_are_refused_at_once_in_one_line(odd_inputs: dict[str, Path], kind: str) -> None:
    with within(1.0), pytest.raises(WorkbenchError) as e:
        read_bytes(odd_inputs[kind], "prompt file", 1 << 20)
    assert "\n" not in str(e.value) and str(odd_inputs[kind]) in str(e.value)
    assert {"fifo": "pipe", "device": "device", "directory": "directory"}[kind] in str(e.value)


def test_reads_are_bounded_and_text_must_be_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(WorkbenchError, match="too large"):
        read_bytes(big, "preset", 1000)
    assert read_bytes(big, "preset", 2000) == b"x" * 2000
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff\xfe")
    with pytest.raises(WorkbenchError, match=r"not UTF-8 text \(byte 3\)"):
        read_text(bad, "prompt file", 100)
    with pytest.raises(WorkbenchError, match="no such prompt file"):
        read_text(tmp_path / "missing", "prompt file", 100)


def test_atomic_writes_follow_symlinks_and_never_replace_a_non_file(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new", "JSON file")
    assert link.is_symlink() and real.read_text() == "new"
    with pytest.raises(WorkbenchError, match="will not write the JSON file over /dev/null: it is a device"):
        write_atomic("/dev/null", "x", "JSON file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with within(1.0), pytest.raises(WorkbenchError, match="pipe"):
        write_atomic(fifo, "x", "n-gram cache")
    assert fifo.exists() and not fifo.is_file()
    with pytest.raises(WorkbenchError, match="no directory"):
        write_atomic(tmp_path / "nowhere" / "x.json", "x", "JSON file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link.json", "real.json"]  # no temporary left


def test_new_files_never_collide(tmp_path: Path) -> None:
    first, f1 = create_new(tmp_path, "session-20260101-000000", ".jsonl", "recording")
    second, f2 = create_new(tmp_path, "session-20260101-000000", ".jsonl", "recording")
    f1.close()
    f2.close()
    assert first != second and first.exists() and second.exists()


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    for i in range(5):
        p = tmp_path / f"crash-{i}.log"
        p.write_text(str(i))
        os.utime(p, (i, i))
    removed = prune(tmp_path, "crash-*.log", 2)
    assert sorted(p.name for p in removed) == ["crash-0.log", "crash-1.log", "crash-2.log"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash-3.log", "crash-4.log"]


# --- a full disk: every write fails cleanly and nothing previous is lost ---------------------------------

@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only), filled to the brim once the test has put its files there."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here ({done.stderr.decode(errors='replace').strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> None:
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 512):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_full_disk_loses_nothing_previous(full_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench import presets, transcripts
    from workbench.engine.record import Recorder
    from workbench.engine.settings import Settings
    from workbench.engine.transcript import Transcript
    from workbench.journal import Journal

    monkeypatch.setenv("XDG_CONFIG_HOME", str(full_disk / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(full_disk / "data"))
    previous = {"out.json": '{"valid": true}', "cache.bin": ngram_cache._HEAD.pack(1, -1, -1, -1, 1) +
                ngram_cache._PAIR.pack(2, 3)}
    for name, content in previous.items():
        (full_disk / name).write_bytes(content.encode() if isinstance(content, str) else content)
    saved = presets.save("mine", Settings(drafter="lookup"), None, None)
    preset_text = saved.read_text()
    fill(full_disk)
    big = "x" * 200_000
    with pytest.raises(WorkbenchError, match="the previous file is unchanged"):
        write_atomic(full_disk / "out.json", big, "JSON file")
    with pytest.raises(WorkbenchError, match="the previous file is unchanged"):
        ngram_cache.save({(1, -1, -1, -1): {t: 1 for t in range(20_000)}}, full_disk / "cache.bin")
    with pytest.raises(WorkbenchError, match="preset"):
        presets.save("mine", Settings(drafter="suffix", draft_max=7), None, big)
    transcript = Transcript()
    from workbench.engine.events import Fate, Source, TokenEvent

    transcript.add(TokenEvent(5, big, Source.TARGET, Fate.ACCEPTED, 0, 0))
    with pytest.raises(WorkbenchError):
        transcripts.save(transcript, "p", Settings(), {})
    with pytest.raises((WorkbenchError, OSError)):
        Journal({"prompt": big, "models": {}, "settings": {}})
    recorder = None
    try:
        recorder = Recorder(full_disk / "r.jsonl", {"prompt": "p", "models": {}, "settings": {}})
    except WorkbenchError:
        pass
    if recorder is not None:  # the header fitted: the events do not, and the recording stops, not the caller
        for _ in range(100):
            recorder.add(TokenEvent(5, "y" * 1000, Source.TARGET, Fate.ACCEPTED, 0, 0))
        recorder.close()
        assert recorder.problem and "stopped" in recorder.problem
    assert (full_disk / "out.json").read_text() == previous["out.json"]
    assert (full_disk / "cache.bin").read_bytes() == previous["cache.bin"]
    assert saved.read_text() == preset_text and presets.load("mine").settings["drafter"] == "lookup"
    assert not list((full_disk / "data" / "workbench" / "transcripts").glob("*.json"))  # no truncated file
    assert not [p for p in full_disk.rglob("*.tmp")]


# --- presets and themes ---------------------------------------------------------------------------------

def test_bad_presets_are_skipped_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench import presets

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = presets.user_presets_dir()
    folder.mkdir(parents=True)
    (folder / "latin1.toml").write_bytes(b'description = "caf\xe9"\n')
    (folder / "dir.toml").mkdir()
    os.mkfifo(folder / "fifo.toml")
    (folder / "kinds.toml").write_text('models = "x"\n')
    (folder / "target.toml").write_text('[models]\ntarget = 5\n')
    (folder / "settings.toml").write_text('settings = 5\n')
    (folder / "good.toml").write_text('[settings]\ndraft_max = 6\n')
    with within(2.0):
        problems = presets.problems()
        names = presets.names()
    assert len(problems) == 6 and all("\n" not in p for p in problems)
    for name in ("latin1", "dir", "fifo", "kinds", "target", "settings"):
        assert any(f"{name}.toml" in p or f"'{name}'" in p for p in problems), (name, problems)
    assert "good" in names and "fifo" not in names
    with pytest.raises(WorkbenchError, match="models.target must be a model path"):
        presets.load("target")
    with pytest.raises(WorkbenchError, match="pipe"), within(1.0):
        presets.load(str(folder / "fifo.toml"))


def test_theme_values_of_the_wrong_kind_are_named() -> None:
    from workbench.app.themes import _theme

    tokens = "[tokens]\n" + "".join(f'{k} = "#ffffff"\n' for k in ("target", "draft", "lookup", "suffix", "ngram",
                                                                  "marker"))
    assert _theme("ok.toml", 'name = "ok"\nprimary = "#112233"\n' + tokens).name == "ok"
    for text, says in (('name = "x"\nprimary = 42\n' + tokens, "primary must be a colour"),
                       ('name = "x"\nprimary = "nope"\n' + tokens, "is not a colour"),
                       ('name = "x"\n', "[tokens]"), ("=", "not valid TOML")):
        with pytest.raises(WorkbenchError, match=says.replace("[", r"\[")) as e:
            _theme("/home/u/themes/x.toml", text)
        assert "x.toml" in str(e.value)


# --- suites ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, says", [
    ('{"turns": {"a": 1}}', '"turns" must be a non-empty list'),
    ('{"turns": 5}', '"turns" must be a non-empty list'),
    ('{"turns": "abc"}', '"turns" must be a non-empty list'),
    ('{"prompt": "\\ud800"}', "lone surrogate"),
    ("[" * 100_000 + "]" * 100_000, "is not JSON"),
    ("5", "not a JSON object"),
])
def test_suite_lines_are_checked_by_type(tmp_path: Path, line: str, says: str) -> None:
    from workbench import suites

    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "fine"}\n' + line + "\n")
    with pytest.raises(WorkbenchError, match=f"line 2.*{says}" if "line" not in says else says):
        suites.read_file(path)


# --- n-gram caches ----------------------------------------------------------------------------------------

def _writer(path: str, token: int, n: int) -> None:
    for _ in range(n):
        ngram_cache.save_merged({(7, -1, -1, -1): {token: 1}}, Path(path))


def test_concurrent_dynamic_cache_writers_keep_every_count(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.bin"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(path), token, 25)) for token in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert ngram_cache.load(path) == {(7, -1, -1, -1): {0: 25, 1: 25, 2: 25, 3: 25}}


def test_counts_saturate_instead_of_overflowing(tmp_path: Path) -> None:
    path = tmp_path / "c.bin"
    cache = {(1, -1, -1, -1): {2: 2**31 - 5}}
    ngram_cache.merge(cache, {(1, -1, -1, -1): {2: 100}})
    ngram_cache.save(cache, path)
    assert ngram_cache.load(path) == {(1, -1, -1, -1): {2: 2**31 - 1}}
    assert struct.unpack_from("<i", path.read_bytes(), 24)[0] == 2**31 - 1


def test_a_device_at_the_dynamic_cache_path_is_not_replaced() -> None:
    with pytest.raises(WorkbenchError, match="device"):
        ngram_cache.save({(1, -1, -1, -1): {2: 1}}, "/dev/null")
    assert Path("/dev/null").is_char_device()


# --- the command line: every flag that reads a file -----------------------------------------------------

def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_each_file_reading_flag_refuses_fifo_device_and_directory(tmp_path: Path, tiny_target: Path) -> None:
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    model = str(tiny_target)
    flags = {
        "-f": lambda f: ["run", "--headless", "-m", model, "-f", f, "-n", "1"],
        "-lcs": lambda f: ["run", "--headless", "-m", model, "-p", "x", "-n", "1", "--drafter", "ngram-cache",
                           "-lcs", f],
        "-lcd": lambda f: ["run", "--headless", "-m", model, "-p", "x", "-n", "1", "--drafter", "ngram-cache",
                           "-lcd", f],
        "lookup-create -f": lambda f: ["lookup-create", "-m", model, "-f", f, "-o", str(tmp_path / "out.bin")],
        "bench -f": lambda f: ["bench", "-m", model, "-f", f, "--drafters", "none", "--k", "2", "--repeat", "1"],
        "--preset": lambda f: ["run", "--headless", "-m", model, "-p", "x", "--preset", f + ".toml"],
    }
    for flag, argv in flags.items():
        for odd in (str(fifo), "/dev/zero", str(folder)):
            if flag == "--preset":
                odd = odd.removesuffix(".jsonl")
                if odd == "/dev/zero":
                    continue  # not a .toml path
                if not os.path.lexists(odd + ".toml"):
                    os.mkfifo(odd + ".toml") if "fifo" in odd else os.mkdir(odd + ".toml")
            start = time.monotonic()
            done = cli(*argv(odd), timeout=30)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 1 and len(lines) == 1, (flag, odd, done.stderr)
            assert any(w in lines[0] for w in ("pipe", "device", "directory")), (flag, odd, lines)
            assert time.monotonic() - start < 15, (flag, odd)  # a start of the CLI and a tiny model, no waiting


def test_a_huge_context_is_refused_before_allocating(tiny_target: Path) -> None:
    done = cli("run", "--headless", "-m", str(tiny_target), "-p", "x", "-n", "1", "-c", str(10**9))
    assert done.returncode == 1
    assert "would take about" in done.stderr and "use a smaller -c" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_invalid_utf8_in_the_prompt_is_one_line(tiny_target: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--headless", "-m", str(tiny_target),
                           "-n", "1", b"-p", b"caf\xe9 ok"], capture_output=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8"})
    assert done.returncode == 1 and b"-p is not UTF-8 text (byte 3" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_missing_preset_is_refused_and_a_preset_is_honoured_headless(tmp_path: Path, tiny_target: Path) -> None:
    done = cli("run", "--headless", "-m", str(tiny_target), "-p", "x", "-n", "1", "--preset", "doesnotexist")
    assert done.returncode == 1 and "no preset 'doesnotexist'" in done.stderr
    preset = tmp_path / "k5.toml"
    preset.write_text('[settings]\ndrafter = "lookup"\ndraft_max = 5\n')
    out = tmp_path / "o.json"
    done = cli("run", "--headless", "-m", str(tiny_target), "-p", "x", "-n", "2", "--preset", str(preset),
               "--json", str(out), "-t", "1", env={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    settings = json.loads(out.read_text())["settings"]
    assert settings["drafter"] == "lookup" and settings["draft_max"] == 5


def test_json_into_a_directory_is_refused_before_generating(tmp_path: Path, tiny_target: Path) -> None:
    done = cli("run", "--headless", "-m", str(tiny_target), "-p", "x", "-n", "1", "--json", str(tmp_path))
    assert done.returncode == 1 and "directory" in done.stderr
    assert "generated" not in done.stderr  # refused before the run, not after it


def test_a_model_path_that_is_not_utf8_loads(tmp_path: Path, tiny_target: Path) -> None:
    odd = os.path.join(os.fsencode(tmp_path), b"mod\xffel.gguf")
    with open(odd, "wb") as f:
        f.write(tiny_target.read_bytes())
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--headless", b"-m", odd, "-p", "x",
                           "-n", "2", "-t", "1", "--json", str(tmp_path / "o.json")], capture_output=True, timeout=60,
                          cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8",
                               "XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    assert b"generated 2 tokens" in done.stderr
    assert os.fsencode(json.loads((tmp_path / "o.json").read_text())["settings"]["model"]) == odd  # the path kept
