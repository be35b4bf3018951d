"""Rolling a recurrent or hybrid target back after a rejected draft.

A transformer's KV cache is cut back to the accepted prefix by forgetting positions (llama_memory_seq_rm). A
recurrent state (Mamba, RWKV, and the recurrent layers of hybrids such as Jamba or Qwen3-Next) is one
summary of everything read so far: it cannot forget the last few tokens, and llama.cpp refuses to cut it
(llama_memory_seq_rm returns false). So before a verify batch the state is kept aside, and
after a partial acceptance it is put back and the accepted tokens are evaluated again, as llama.cpp's
server does for such targets. Two ways to keep it aside, both llama.cpp's:

- `CopyRollback`: copy sequence 0 into a spare sequence 1 (llama_memory_seq_cp; the context is created
  with two sequences). The copy shares cells and llama.cpp copies the recurrent state inside the next
  decode graph, so a step that accepts everything pays almost nothing.
- `SnapshotRollback`: serialise the sequence's state to host memory (llama_state_seq_get_data) and load it
  back on a rejection. For a hybrid target that includes its attention KV cache, so it grows with the context.

benchmarks/state_rollback.py measures both on a recurrent model; the engine uses `CopyRollback` (the
faster there: README, "Your own models") and falls back to snapshots when a context has no spare sequence.
"""

from __future__ import annotations

import ctypes
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Literal

from .errors import WorkbenchError

if TYPE_CHECKING:
    from .models import Model

RollbackKind = Literal["copy", "snapshot"]
SPARE_SEQ = 1  # CopyRollback's spare sequence


class Rollback(ABC):
    """Keeps a target's state aside before a verify batch and puts it back after a partial acceptance."""

    kind: RollbackKind

    def __init__(self, model: Model) -> None:
        self.model = model
        self._saved_at: int | None = None  # model.n_past when the state was kept aside
        self.seconds = 0.0  # time spent keeping aside and restoring since the last `take_seconds`

    def save(self) -> None:
        """Keep the state at model.n_past aside."""
        start = time.perf_counter()
        self._save()
        self._saved_at = self.model.n_past
        self.seconds += time.perf_counter() - start

    def restore(self, replay: list[int]) -> None:
        """Put the kept state back, then evaluate `replay` (the tokens accepted since it was kept)."""
        if self._saved_at is None:
            raise WorkbenchError(f"{self.model.info.name}: no saved state to roll back to")
        start = time.perf_counter()
        self._restore()
        self.model.n_past = self._saved_at
        if replay:
            self.model.eval(replay)
        self.seconds += time.perf_counter() - start

    def take_seconds(self) -> float:
        """Seconds spent since the last call (the session charges them to the step)."""
        seconds, self.seconds = self.seconds, 0.0
        return seconds

    @abstractmethod
    def _save(self) -> None:
        """Keep llama.cpp's state of sequence 0 aside."""

    @abstractmethod
    def _restore(self) -> None:
        """Make sequence 0 the state kept aside."""


class CopyRollback(Rollback):
    kind: RollbackKind = "copy"

    def _save(self) -> None:
        lib, memory = self.model._lib, self.model._memory
        lib.llama_memory_seq_rm(memory, SPARE_SEQ, -1, -1)
        lib.llama_memory_seq_cp(memory, 0, SPARE_SEQ, -1, -1)

    def _restore(self) -> None:
        lib, memory = self.model._lib, self.model._memory
        lib.llama_memory_seq_rm(memory, 0, -1, -1)
        lib.llama_memory_seq_cp(memory, SPARE_SEQ, 0, -1, -1)


class SnapshotRollback(Rollback):
    kind: RollbackKind = "snapshot"

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self._buffer = (ctypes.c_uint8 * 0)()
        self._size = 0

    def _save(self) -> None:
        lib, ctx = self.model._lib, self.model.llm.ctx
        need = int(lib.llama_state_seq_get_size(ctx, 0))
        if need > len(self._buffer):
            self._buffer = (ctypes.c_uint8 * need)()
        self._size = int(lib.llama_state_seq_get_data(ctx, self._buffer, need, 0))
        if self._size == 0:
            raise WorkbenchError(f"{self.model.info.name}: llama.cpp could not save this model's state")

    def _restore(self) -> None:
        lib, ctx = self.model._lib, self.model.llm.ctx
        lib.llama_memory_seq_rm(self.model._memory, 0, -1, -1)
        if int(lib.llama_state_seq_set_data(ctx, self._buffer, self._size, 0)) == 0:
            raise WorkbenchError(f"{self.model.info.name}: llama.cpp could not restore this model's state")


def rollback_for(model: Model, kind: RollbackKind | None = None) -> Rollback:
    """The rollback a recurrent `model` uses: copies when its context has a spare sequence, else snapshots."""
    if kind is None:
        kind = "copy" if model.n_seq_max > SPARE_SEQ else "snapshot"
    if kind == "copy" and model.n_seq_max <= SPARE_SEQ:
        raise WorkbenchError("copy rollback needs a context with two sequences")
    return CopyRollback(model) if kind == "copy" else SnapshotRollback(model)
