"""Files the user owns (prompts, suites, corpora, caches, presets, themes, transcripts, recordings, --json,
crash logs): read and written by one set of rules, so that no odd file can hang, flood or destroy anything.

Reading: a file is opened on purpose. Only a regular file is read; a directory, a FIFO or a device gets one
line at once (opened with O_NONBLOCK, so a FIFO never waits for a writer), and a read is bounded by a size
that fits its kind (`-f /dev/zero` is refused, not read until the OOM killer comes).

Writing: atomic. The new content goes to a temporary file in the target's own directory, is flushed and
fsynced, then renamed over the target, so a full or read-only disk leaves the previous file as it was (and
says so in one line). A symlink is followed to its target; anything that is not a regular file (a device, a
FIFO, a directory) is never replaced. New files that must not collide across processes are created
exclusively (`create_new`).

It lives in the engine because the engine reads and writes some of these files itself (n-gram caches,
recordings); it imports nothing but the standard library and the engine's error type.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import WorkbenchError

MiB = 2**20
# Bounds per kind of file: far above any real one, far below what would hurt the machine.
PROMPT_MAX = 16 * MiB  # -f: a prompt (a long document is ~1 MiB)
SUITE_MAX = 64 * MiB  # bench/tune -f, --spec-bench (Spec-Bench's question.jsonl is 0.5 MiB)
CORPUS_MAX = 512 * MiB  # lookup-create -f
CACHE_MAX = 2048 * MiB  # -lcs / -lcd: llama.cpp's n-gram caches of a large corpus run to hundreds of MiB
SMALL_MAX = 1 * MiB  # presets and themes: a few lines of TOML
RESULTS_MAX = 256 * MiB  # `workbench results FILE.json`

# A path that is not UTF-8 reaches text as lone surrogates; written as \udcff escapes they are valid JSON that
# reads back as the same path (and plain text stays readable), where strict UTF-8 would fail the whole write.
_JSON_SAFE = "backslashreplace"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


def read_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of the regular file at `path` (a `what`: "prompt file", "preset"...), at most `limit` of them;
    else a one-line WorkbenchError naming the file and why."""
    p = Path(os.fsdecode(path)).expanduser()
    try:
        fd = os.open(p, _READ_FLAGS)
    except FileNotFoundError:
        raise WorkbenchError(f"{p}: no such {what}") from None
    except OSError as e:
        raise WorkbenchError(f"{p}: cannot read the {what} ({e.strerror or e})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WorkbenchError(f"{p} is {_kind_of(info.st_mode)}, not a {what}")
        raise WorkbenchError(f"{p} is {_size(info.st_size)}: too large for a {what} (at most {_size(limit)})")
    with os.fdopen(fd, "rb", buffering=0) as f:
        try:
            data = _read_at_most(f, limit + 1)  # a file that grows while read is still bounded
        except OSError as e:
            raise WorkbenchError(f"{p}: cannot read the {what} ({e.strerror or e})") from None
    if len(data) > limit:
        raise WorkbenchError(f"{p} grew past {_size(limit)} while being read: too large for a {what}")
    return data


def _read_at_most(f: IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        chunk = f.read(min(left, 8 * MiB))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_text(path: str | Path, what: str, limit: int, errors: str = "strict") -> str:
    """The file as UTF-8 text (see read_bytes); text that is not UTF-8 is one line naming the byte."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise WorkbenchError(f"{Path(os.fsdecode(path)).expanduser()}: the {what} is not UTF-8 text "
                             f"(byte {e.start})") from None


def is_regular(path: Path) -> bool:
    """Whether `path` (followed through symlinks) is a regular file, without opening anything."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


# --- writing ----------------------------------------------------------------------------------------------

def target_of(path: str | Path, what: str) -> Path:
    """Where writing `path` lands: a symlink followed to its target; refused (one line) when that is anything
    but a regular file or a new name in an existing directory."""
    p = Path(os.fsdecode(path)).expanduser()
    real = Path(os.path.realpath(p))
    try:
        info = os.stat(real)
    except FileNotFoundError:
        info = None
    except OSError as e:
        raise WorkbenchError(f"cannot write the {what} {p}: {e.strerror or e}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise WorkbenchError(f"will not write the {what} over {p}: it is {_kind_of(info.st_mode)}")
    folder = real.parent
    if not folder.is_dir():
        raise WorkbenchError(f"cannot write the {what} {p}: no directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WorkbenchError(f"cannot write the {what} {p}: the directory {folder} is not writable")
    return real


def check_writable(path: str | Path, what: str) -> None:
    """Before a long job: would writing `path` be refused? (One line now instead of after the work.)"""
    target_of(path, what)


def write_atomic(path: str | Path, data: bytes | str, what: str) -> Path:
    """Replace the file at `path` with `data` all at once (temporary file, flush, fsync, rename). On failure
    the previous file is intact, the temporary file is gone and one WorkbenchError says so."""
    real = target_of(path, what)
    blob = data.encode("utf-8", _JSON_SAFE) if isinstance(data, str) else data
    existed = real.exists()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode) if existed else 0o666 & ~_umask())
        os.replace(tmp, real)
        tmp = None
    except OSError as e:
        kept = "the previous file is unchanged" if existed else "nothing was written"
        raise WorkbenchError(f"cannot write the {what} {path}: {e.strerror or e}; {kept}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _sync_dir(real.parent)
    return Path(os.fsdecode(path)).expanduser()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_dir(folder: Path) -> None:
    """The rename itself durable (a power cut after it keeps the new file); best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create_new(folder: Path, stem: str, suffix: str, what: str) -> tuple[Path, IO[str]]:
    """A new file `stem<suffix>` (else `stem-1<suffix>`, `stem-2`...) in `folder`, created exclusively
    (O_EXCL), so two processes that start in the same second never share one; opened for writing text."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkbenchError(f"cannot create the {what} directory {folder}: {e.strerror or e}") from None
    for n in range(10_000):
        path = folder / f"{stem}{f'-{n}' if n else ''}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise WorkbenchError(f"cannot create the {what} {path}: {e.strerror or e}") from None
        return path, os.fdopen(fd, "w", encoding="utf-8", errors=_JSON_SAFE)
    raise WorkbenchError(f"cannot create the {what} in {folder}: 10000 files named {stem}* already")


def open_stream(path: str | Path, what: str) -> IO[str]:
    """`path` opened for writing as it is made (a recording): a symlink is followed, anything but a regular
    file refused, and nothing is truncated before the open has succeeded."""
    real = target_of(path, what)
    try:
        fd = os.open(real, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise WorkbenchError(f"cannot write the {what} {path}: {e.strerror or e}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # became something else since target_of looked
        os.close(fd)
        raise WorkbenchError(f"will not write the {what} over {path}: it is {_kind_of(info.st_mode)}")
    os.set_blocking(fd, True)
    os.ftruncate(fd, 0)
    return os.fdopen(fd, "w", encoding="utf-8", errors=_JSON_SAFE)


def prune(folder: Path, pattern: str, keep: int) -> list[Path]:
    """Remove the oldest files matching `pattern` in `folder` beyond the newest `keep`; the ones removed."""
    try:
        found = sorted((p for p in folder.glob(pattern) if is_regular(p)), key=lambda p: (p.stat().st_mtime, p.name))
    except OSError:
        return []
    removed = []
    for p in found[:max(0, len(found) - keep)]:
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


class Watch:
    """Files that must not change while in use (the loaded models, which llama.cpp maps into memory): their
    device, inode, size and mtime when the watch began. `changed` costs one stat per file."""

    def __init__(self, paths: list[str | Path]) -> None:
        self._seen = {Path(p): _identity(Path(p)) for p in paths if p}

    def changed(self) -> str | None:
        """One line naming the first file that changed on disk, or None."""
        for path, seen in self._seen.items():
            now = _identity(path)
            if now != seen:
                how = "is gone" if now is None else "was replaced" if seen and now[:2] != seen[:2] else \
                    f"changed size ({_size(seen[2])} -> {_size(now[2])})" if seen and now[2] != seen[2] else \
                    "was written to"
                return f"the model file {path} {how} while in use: the run stops (load it again to go on)"
        return None


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def llama_path(path: str | Path) -> Iterator[str]:
    """`path` as llama-cpp-python can take it: it encodes paths as UTF-8, so a name that is not UTF-8 (bytes the
    file system allows, which Python keeps as surrogates) goes through /proc/self/fd instead, open meanwhile."""
    text = os.fsdecode(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    yield text
