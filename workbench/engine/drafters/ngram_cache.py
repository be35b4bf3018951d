"""llama.cpp's `ngram-cache` (common/ngram-cache.cpp; what `llama-lookup` runs), and its cache files.

Three caches count which token followed each n-gram: the current context (1- to 4-grams), a dynamic cache
carried across runs (saved after each request when a file is given) and a static cache of 2-grams built
offline from a corpus (`workbench lookup-create`, llama.cpp's `llama-lookup-create`). Drafting goes token
by token, at most K (llama-server: 8): the longest context n-gram whose counts are large and lopsided enough names the
next token (at least {2,2,1,1} samples and a {66,50,50,50}% share for n = 1..4), else the dynamic cache
with stricter limits ({4,3,2,2}, {75,66,66,66}%), else the static cache alone (2 samples, 50%); the
static counts weight the candidates. The first n-gram that convinces none of them ends the draft.

One deliberate difference: llama.cpp's speculative.cpp updates the context cache with each step's new
tokens on their own, losing the n-grams that straddle two steps; `llama-lookup` counts every n-gram of
the sequence, and so does this, since llama-lookup is the tool we measure against. Candidates with equal
weight are taken in insertion order (llama.cpp's unordered_map has its own order), so near-ties may
pick another token than llama.cpp does.

The file format is llama.cpp's (common_ngram_cache_save/load), little-endian: per n-gram, 4 int32 tokens
(unused ones -1), an int32 count of following tokens, then (int32 token, int32 count) pairs.
"""

from __future__ import annotations

import os
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WorkbenchError
from ..events import Source
from ..userfiles import CACHE_MAX, read_bytes, target_of, write_atomic
from .base import Drafter, Proposal

NGRAM_MIN, NGRAM_MAX, NGRAM_STATIC = 1, 4, 2
N_DRAFT = 8  # llama.cpp's create_state_ngram_cache: n_draft = 8
TOKEN_NULL = -1
MIN_SAMPLES_LAX = (2, 2, 1, 1)  # context cache, n = 1..4
MIN_PERCENT_LAX = (66, 50, 50, 50)
MIN_SAMPLES_STRICT = (4, 3, 2, 2)  # dynamic cache
MIN_PERCENT_STRICT = (75, 66, 66, 66)

Ngram = tuple[int, int, int, int]  # padded with TOKEN_NULL, as llama.cpp's common_ngram
Cache = dict[Ngram, dict[int, int]]  # n-gram -> {next token: count}

_HEAD = struct.Struct("<4ii")
_PAIR = struct.Struct("<ii")


def _ngram(tokens: list[int] | tuple[int, ...]) -> Ngram:
    return tuple(tokens) + (TOKEN_NULL,) * (NGRAM_MAX - len(tokens))  # type: ignore[return-value]


def update(cache: Cache, tokens: list[int], n_min: int, n_max: int, n_new: int) -> None:
    """common_ngram_cache_update: count the n-grams (n_min..n_max) ending before each of the last n_new tokens."""
    size = len(tokens)
    for n in range(n_min, n_max + 1):
        for i in range(max(size - n_new, n), size):
            part = cache.setdefault(_ngram(tokens[i - n:i]), {})
            part[tokens[i]] = part.get(tokens[i], 0) + 1


COUNT_MAX = 2**31 - 1  # the file's counts are int32: a count saturates there instead of failing to save


def merge(into: Cache, add: Cache) -> None:
    for ngram, part in add.items():
        target = into.setdefault(ngram, {})
        for token, count in part.items():
            target[token] = min(COUNT_MAX, target.get(token, 0) + count)


def save(cache: Cache, path: str | Path) -> None:
    """Write `cache` in llama.cpp's format, atomically (userfiles: a crash or a full disk leaves the old file;
    a symlink is followed; a device or FIFO at the path is never replaced)."""
    chunks = []
    for ngram, part in cache.items():
        chunks.append(_HEAD.pack(*ngram, len(part)))
        chunks.extend(_PAIR.pack(token, min(count, COUNT_MAX)) for token, count in part.items())
    write_atomic(path, b"".join(chunks), "n-gram cache")


def load(path: str | Path, n_vocab: int | None = None) -> Cache:
    """Read a cache in llama.cpp's format; a missing, truncated or corrupt file is a WorkbenchError naming
    the byte where it went wrong. Nothing is trusted beyond the file's own length (itself bounded)."""
    path = Path(path)
    data = read_bytes(path, "n-gram cache file", CACHE_MAX)
    cache: Cache = {}
    pos, size = 0, len(data)
    bad = f"{path}: not a llama.cpp n-gram cache"
    while pos < size:
        if size - pos < _HEAD.size:
            raise WorkbenchError(f"{bad} (it ends inside a record at byte {pos})")
        *tokens, count = _HEAD.unpack_from(data, pos)
        if count <= 0 or count * _PAIR.size > size - pos - _HEAD.size:
            raise WorkbenchError(f"{bad} (a record at byte {pos} claims {count} tokens)")
        ngram = tuple(tokens)
        if not _valid_ngram(ngram, n_vocab):
            raise WorkbenchError(f"{bad} (the n-gram at byte {pos} holds token ids out of range)")
        pos += _HEAD.size
        part = cache.setdefault(ngram, {})  # type: ignore[arg-type]
        for token, n in _PAIR.iter_unpack(data[pos:pos + count * _PAIR.size]):
            if n <= 0 or token < 0 or (n_vocab is not None and token >= n_vocab):
                raise WorkbenchError(f"{bad} (a count at byte {pos} is {n} for token {token})")
            part[token] = min(COUNT_MAX, part.get(token, 0) + n)
        pos += count * _PAIR.size
    return cache


def save_merged(add: Cache, path: Path, n_vocab: int | None = None) -> Cache:
    """Add `add`'s counts to the cache file at `path` under an exclusive lock on its directory, so that
    concurrent writers (several runs with one -lcd) each add theirs instead of the last one winning; the
    merged cache, which now holds the others' counts too."""
    import fcntl

    folder = target_of(path, "n-gram cache").parent
    try:
        lock = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as e:
        raise WorkbenchError(f"{path}: cannot lock its directory ({e.strerror or e})") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released with the descriptor
        merged = load(path, n_vocab) if os.path.lexists(path) else {}
        merge(merged, add)
        save(merged, path)
        return merged
    finally:
        os.close(lock)


def _valid_ngram(ngram: tuple[int, ...], n_vocab: int | None) -> bool:
    used = [t for t in ngram if t != TOKEN_NULL]
    if not used or ngram[:len(used)] != tuple(used):  # tokens first, then the padding
        return False
    return all(t >= 0 and (n_vocab is None or t < n_vocab) for t in used)


def _try_static(static: Cache, ngram: Ngram) -> int | None:
    part = static.get(ngram)
    if not part:
        return None
    token, best = max(part.items(), key=lambda item: item[1])
    total = sum(part.values())
    if total < MIN_SAMPLES_LAX[NGRAM_STATIC - 1] or 100 * best < MIN_PERCENT_LAX[NGRAM_STATIC - 1] * total:
        return None
    return token


def _try_primary(primary: Cache, ngrams: list[Ngram], part_static: dict[int, int],
                 min_samples: tuple[int, ...], min_percent: tuple[int, ...]) -> int | None:
    for i in range(len(ngrams) - 1, -1, -1):  # the longest n-gram first
        part = primary.get(ngrams[i])
        if not part:
            continue
        best_token, best_primary, best_static, total = None, 0, 0, 0
        for token, count in part.items():
            weight = 100 * part_static[token] if token in part_static else 1
            if count * weight > best_primary * best_static:
                best_token, best_primary, best_static = token, count, weight
            total += count
        if total < min_samples[i] or 100 * best_primary < min_percent[i] * total:
            continue
        return best_token
    return None


def draft(inp: list[int], n_draft: int, context: Cache, dynamic: Cache, static: Cache) -> list[int]:
    """common_ngram_cache_draft: up to n_draft tokens after `inp` (which ends with the sampled token)."""
    if len(inp) < NGRAM_STATIC:
        return []
    seq = list(inp)
    out: list[int] = []
    while len(out) < n_draft:
        part_static = static.get(_ngram(seq[-NGRAM_STATIC:]), {})
        ngrams = [_ngram(seq[-n:]) for n in range(NGRAM_MIN, NGRAM_MAX + 1)]
        token = _try_primary(context, ngrams, part_static, MIN_SAMPLES_LAX, MIN_PERCENT_LAX)
        if token is None:
            token = _try_primary(dynamic, ngrams, part_static, MIN_SAMPLES_STRICT, MIN_PERCENT_STRICT)
        if token is None:
            token = _try_static(static, _ngram(seq[-NGRAM_STATIC:]))
        if token is None:
            break
        out.append(token)
        seq.append(token)
    return out


@dataclass(frozen=True, slots=True)
class CacheParams:
    pass  # llama.cpp gives ngram-cache no size flags: K sizes it, as --draft-max does in llama-lookup


class NgramCacheDrafter(Drafter):
    source = Source.NGRAM_CACHE
    Params = CacheParams

    def __init__(self) -> None:
        self.static: Cache = {}
        self.dynamic: Cache = {}
        self.dynamic_path: Path | None = None
        self._n_vocab: int | None = None
        self.begin([])

    def cap(self, params: CacheParams, k: int) -> int:
        return k  # llama-lookup drafts --draft-max tokens; llama-server's ngram-cache 8 (our default K)

    def load_static(self, path: str | Path, n_vocab: int | None = None) -> None:
        self.static = load(path, n_vocab)

    def use_dynamic(self, path: str | Path, n_vocab: int | None = None) -> None:
        """Read the dynamic cache from `path` if it exists, and save it there after every request."""
        path = Path(path)
        self.dynamic = load(path, n_vocab) if os.path.lexists(path) else {}
        self.dynamic_path, self._n_vocab = path, n_vocab

    def begin(self, context: list[int]) -> None:
        self.context: Cache = defaultdict(dict)
        self._counted = 0  # the n-grams ending before context[:_counted] are counted

    def _count(self, context: list[int]) -> None:
        if self._counted < len(context):
            update(self.context, context, NGRAM_MIN, NGRAM_MAX, len(context) - self._counted)
            self._counted = len(context)

    def prepare(self, context: list[int]) -> None:
        self._count(context)  # during prompt processing, not at the first step

    def propose(self, context: list[int], k: int, params: CacheParams, rng: np.random.Generator) -> Proposal:
        self._count(context)
        return Proposal(draft(context, k, self.context, self.dynamic, self.static), self.source)

    def finish(self, context: list[int], n_prompt: int) -> None:
        """llama-lookup's end of a run: the context's counts join the dynamic cache, which is saved."""
        if self.dynamic_path is None:
            return
        self._count(context)
        self.dynamic = save_merged(self.context, self.dynamic_path, self._n_vocab)
        self.context = defaultdict(dict)
        self._counted = len(context)  # counted once: a later finish() of the same request adds nothing

    def forget(self) -> None:
        if self.dynamic_path is None:
            self.dynamic = {}
