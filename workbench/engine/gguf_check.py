"""A bounded check of a GGUF file's header, before the `gguf` package's reader or llama.cpp reads it.

Both trust what a header says about itself: a count of 7e18 array elements (two value-type fields swapped
are enough to produce one) makes the `gguf` reader loop and allocate without end. This walks the header
(magic, version, counts, every key/value, every tensor's name, shape, type and offset) reading it in small
pieces, and checks every count and length against the bytes the file has left before acting on it, so its
time and memory are bounded by the file's size, never by what the header claims. Written here because the
reader we would use is the thing that needs guarding; the format is small (ggml's docs/gguf.md).
"""

from __future__ import annotations

import os
import stat
import struct
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from .errors import WorkbenchError

MAGIC = b"GGUF"
VERSIONS = (2, 3)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_KEY = 64 * 1024  # no metadata key is anywhere near this long
MAX_NESTING = 2  # an array of arrays at most (llama.cpp reads no deeper)
ALIGNMENT_KEY = "general.alignment"
TOKENIZER_KEY = "tokenizer.ggml.model"
VOCABULARY_KEY = "tokenizer.ggml.tokens"  # its entries must differ: llama.cpp asserts (aborts) otherwise
MAX_KEPT_ARRAY = 4096  # arrays of numbers up to this long are returned in the facts (per-layer counts)
# facts about the tensors, under names no metadata key has
PARAMS_KEY = " n_params"
MATRIX_TYPES_KEY = " matrix types"

# value type -> struct format of one value (GGUF's gguf_type); 8 = string, 9 = array
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")
CHUNK = 1 << 20  # bytes read at a time while walking an array of strings


class _Header:
    """The file read forward with bounds: every read says what it is for, for the one-line message."""

    def __init__(self, f: BinaryIO, size: int, name: str) -> None:
        self.f, self.size, self.name = f, size, name
        self.strings: list[bytes] = []  # the last array of unique strings read (the vocabulary)

    @property
    def left(self) -> int:
        return self.size - self.f.tell()

    def fail(self, why: str) -> WorkbenchError:
        return WorkbenchError(f"{self.name} is corrupt: {why} (at byte {self.f.tell()})")

    def read(self, n: int, what: str) -> bytes:
        if n > self.left:
            raise WorkbenchError(f"{self.name} is truncated: {what} needs {n} bytes, {self.left} are left")
        return self.f.read(n)

    def skip(self, n: int, what: str) -> None:
        if n > self.left:
            raise WorkbenchError(f"{self.name} is truncated: {what} needs {n} bytes, {self.left} are left")
        self.f.seek(n, os.SEEK_CUR)

    def number(self, fmt: str, what: str) -> int:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]

    def count(self, what: str, least_bytes_each: int) -> int:
        """A u64 count of things that take at least `least_bytes_each` bytes each: no more than fit in the file."""
        n = self.number("<Q", what)
        if n * max(least_bytes_each, 1) > self.left:
            raise self.fail(f"{what} claims {n}, more than the {self.left} bytes left can hold")
        return n

    def string(self, what: str, limit: int | None = None) -> bytes:
        n = self.number("<Q", f"the length of {what}")
        if limit is not None and n > limit:
            raise self.fail(f"{what} claims a length of {n}")
        return self.read(n, what)

    def string_array(self, n: int, what: str, keep: bool) -> list[bytes]:
        """n length-prefixed strings (kept, or skipped), parsed from reads of at most CHUNK bytes: a vocabulary's
        49k-262k strings read one small read at a time cost about a second. Bounded as `read`: each length is
        checked against the bytes the file has left before anything of it is read."""
        out: list[bytes] = []
        buf, at = b"", 0
        for _ in range(n):  # bounded: each string takes at least its 8-byte length
            if len(buf) - at < 8:
                buf, at = buf[at:] + self.f.read(min(CHUNK, self.left)), 0
                if len(buf) < 8:
                    raise WorkbenchError(f"{self.name} is truncated: a string length in {what} needs 8 bytes, "
                                         f"{len(buf)} are left")
            (length,) = _U64.unpack_from(buf, at)
            at += 8
            buffered = len(buf) - at
            if length > buffered + self.left:
                raise WorkbenchError(f"{self.name} is truncated: a string in {what} needs {length} bytes, "
                                     f"{buffered + self.left} are left")
            if length <= buffered:
                if keep:
                    out.append(buf[at:at + length])
                at += length
            elif keep:  # longer than what is buffered: the rest read now (within the file, checked above)
                out.append(buf[at:] + self.f.read(length - buffered))
                buf, at = b"", 0
            else:
                self.f.seek(length - buffered, os.SEEK_CUR)
                buf, at = b"", 0
        self.f.seek(at - len(buf), os.SEEK_CUR)  # back to just after the array
        return out

    def value(self, vtype: int, what: str, depth: int = 0, unique: bool = False) -> object:
        """Read (or skip) one value; returns scalars, strings and short arrays of numbers, None otherwise. `unique`: an array
        of strings whose strings must all differ (a vocabulary: llama.cpp aborts on a repeated token)."""
        if vtype in _SCALARS:
            fmt = _SCALARS[vtype]
            return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]
        if vtype == _STRING:
            return self.string(what).decode("utf-8", errors="replace")
        if vtype != _ARRAY:
            raise self.fail(f"{what} has value type {vtype}, which GGUF does not define")
        if depth >= MAX_NESTING:
            raise self.fail(f"{what} nests arrays deeper than {MAX_NESTING}")
        etype = self.number("<I", f"the element type of {what}")
        if etype in _SCALARS:
            each = struct.calcsize(_SCALARS[etype])
            n = self.count(f"the element count of {what}", each)
            if n > MAX_KEPT_ARRAY:
                self.skip(n * each, f"the elements of {what}")
                return None
            data = self.read(n * each, f"the elements of {what}")  # small: per-layer counts of a hybrid model
            return list(struct.unpack(f"<{n}{_SCALARS[etype][1:]}", data))
        elif etype == _STRING:
            n = self.count(f"the element count of {what}", 8)
            strings = self.string_array(n, what, unique)
            if unique:
                seen: set[bytes] = set()
                for i, text in enumerate(strings):
                    if text in seen:
                        raise self.fail(f"{what} repeats {_short(text.decode('utf-8', errors='replace'))} (entry {i})")
                    seen.add(text)
                self.strings = strings
        elif etype == _ARRAY:
            n = self.count(f"the element count of {what}", 12)
            for _ in range(n):
                self.value(_ARRAY, what, depth + 1)
        else:
            raise self.fail(f"{what} is an array of type {etype}, which GGUF does not define")
        return None


def _short(text: str, limit: int = 40) -> str:
    """A name from the file as a message quotes it: escaped, and cut if long (garbage can be kilobytes)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def read_vocabulary(path: str | Path) -> tuple[str, list[bytes]]:
    """The tokenizer's name (tokenizer.ggml.model) and every token's text, from the same bounded walk of the
    header (a fraction of a second for a 49k-token vocabulary), or a one-line WorkbenchError."""
    facts = header_facts(path)
    return str(facts.get(TOKENIZER_KEY, "none")), list(facts.get(VOCABULARY_KEY, []))  # type: ignore[call-overload]


def header_facts(path: str | Path) -> dict[str, object]:
    """Every metadata value the header walk keeps (check_gguf's `facts`), walked once per file version: loading a
    pair reads each header for its facts and its vocabulary."""
    facts: dict[str, object] = {}
    check_gguf(path, facts)
    return facts


def check_gguf(path: str | Path, facts: dict[str, object] | None = None) -> Path:
    """The path, if it is a regular file holding a well-formed GGUF header whose tensors lie inside the file;
    else a one-line WorkbenchError. Never opens a FIFO or device (opening one can block forever). `facts` gets
    what the walk keeps of the metadata. A file version (path, mtime, size) that passed is not walked again."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such file") from None
    except OSError as e:
        raise WorkbenchError(f"{path}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise WorkbenchError(f"{path} is a directory, not a GGUF model file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or \
            stat.S_ISBLK(st.st_mode) else "not a regular file"
        raise WorkbenchError(f"{path} is {kind}, not a GGUF model file")
    version = (p.resolve(), st.st_mtime_ns, st.st_size)
    found = _WALKED.pop(version, None)
    if found is None:
        found = {}
        try:
            with p.open("rb", buffering=1 << 16) as f:
                _check(_Header(f, st.st_size, str(path)), found)
        except OSError as e:
            raise WorkbenchError(f"{path}: cannot read ({e.strerror})") from None
    _WALKED[version] = found  # the newest last
    while len(_WALKED) > MAX_WALKED:
        del _WALKED[next(iter(_WALKED))]
    if facts is not None:
        facts.update(found)
    return p


# what the walk kept of each file version (resolved path, mtime, size) that passed, oldest first: a walk of SmolLM2's
# 49k-token vocabulary and merges costs a few tenths of a second, and loading a derived pair asked for it eight times
_WALKED: dict[tuple[Path, int, int], dict[str, object]] = {}
MAX_WALKED = 4


def _check(h: _Header, facts: dict[str, object] | None = None) -> None:
    if h.size < 4 or h.f.read(4) != MAGIC:
        raise WorkbenchError(f"{h.name} is not a GGUF model file")
    version = h.number("<I", "the version")
    if version not in VERSIONS:
        raise WorkbenchError(f"{h.name} is GGUF version {version}; llama.cpp reads versions 2 and 3")
    n_tensors = h.number("<Q", "the tensor count")
    n_kv = h.count("the metadata count", 8 + 4 + 1)
    alignment = 32
    for i in range(n_kv):
        key = h.string(f"metadata key {i}", MAX_KEY).decode("utf-8", errors="replace")
        shown = _short(key)
        vtype = h.number("<I", f"the value type of {shown}")
        h.strings = []  # what value() keeps of an array of unique strings
        value = h.value(vtype, shown, unique=key == VOCABULARY_KEY)
        if facts is not None:
            facts[key] = h.strings if key == VOCABULARY_KEY else value
        if key == ALIGNMENT_KEY:
            if not isinstance(value, int) or value <= 0 or value & (value - 1):
                raise h.fail(f"{ALIGNMENT_KEY} is {value!r}, not a power of two")
            alignment = value
    if n_tensors * (8 + 4 + 8 + 4 + 8) > h.left:
        raise h.fail(f"the tensor count claims {n_tensors}, more than the {h.left} bytes left can hold")
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType  # after the cheap checks

    extents = []
    for i in range(n_tensors):
        name = _short(h.string(f"the name of tensor {i}", MAX_KEY).decode("utf-8", errors="replace"))
        n_dims = h.number("<I", f"the dimension count of {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise h.fail(f"tensor {name} has {n_dims} dimensions")
        dims = [h.number("<Q", f"a dimension of {name}") for _ in range(n_dims)]
        ttype = h.number("<I", f"the type of {name}")
        offset = h.number("<Q", f"the offset of {name}")
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
        except (ValueError, KeyError):
            raise h.fail(f"tensor {name} has type {ttype}, which ggml does not define") from None
        elements = 1
        for d in dims:
            if d == 0 or d > h.size * block:  # no dimension of real data exceeds the file (times a block)
                raise h.fail(f"tensor {name} has a dimension of {d}")
            elements *= d
        if dims[0] % block:
            raise h.fail(f"tensor {name}'s rows of {dims[0]} are not whole blocks of {block}")
        extents.append((name, offset, elements // block * type_size))
        if facts is not None:  # what gguf_info tells of the weights: parameters, the types of the matrices
            facts[PARAMS_KEY] = int(facts.get(PARAMS_KEY, 0)) + elements  # type: ignore[call-overload]
            if n_dims > 1:
                types = facts.setdefault(MATRIX_TYPES_KEY, Counter())
                types[GGMLQuantizationType(ttype).name] += 1  # type: ignore[index]
    data_start = -(-h.f.tell() // alignment) * alignment
    for name, offset, n_bytes in extents:
        if offset % alignment:
            raise h.fail(f"tensor {name} starts at {offset}, not aligned to {alignment}")
        if data_start + offset + n_bytes > h.size:
            raise WorkbenchError(f"{h.name} is truncated: tensor {name} ends at byte {data_start + offset + n_bytes}, "
                                 f"the file has {h.size}")
