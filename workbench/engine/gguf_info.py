"""What a GGUF file is, read from its header (the bounded walk of gguf_check), without loading any weights.

This is also where a bad path is caught before llama.cpp sees it, so that a missing file, a file that
is not GGUF and a truncated GGUF each get their own one-line message instead of llama.cpp's generic
"failed to load model".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .gguf_check import MATRIX_TYPES_KEY, PARAMS_KEY, VOCABULARY_KEY, check_gguf, header_facts

# Metadata keys (after "<arch>.") that only state-space and linear-attention architectures carry.
_RECURRENT_KEYS = ("ssm.", "wkv.", "shortconv.", "rwkv")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    path: Path
    file_size: int
    name: str  # as users know a model file: its file name and quantisation, "SmolLM2-135M-Instruct.F16.gguf (F16)"
    arch: str
    n_layer: int
    n_vocab: int
    n_ctx_train: int
    n_params: int
    quantization: str
    expert_count: int  # 0 for a dense model
    expert_used_count: int
    recurrent: bool  # has a recurrent state (Mamba, RWKV ... and hybrids): no KV-cache rollback
    hybrid: bool  # recurrent layers beside attention layers (Jamba, Qwen3-Next ...)

    @property
    def is_moe(self) -> bool:
        return self.expert_count > 1

    @property
    def expert_used_key(self) -> str:
        """The kv-override key of the experts used per token, derived from the architecture."""
        return f"{self.arch}.expert_used_count"

    def summary(self) -> str:
        size = f"{self.n_params / 1e6:.0f}M" if self.n_params < 1e9 else f"{self.n_params / 1e9:.1f}B"
        moe = f", MoE {self.expert_used_count}/{self.expert_count} experts" if self.is_moe else ""
        kind = ", hybrid" if self.hybrid else ", recurrent" if self.recurrent else ""
        return f"{self.name}: {self.arch}{kind}, {size} params, {self.n_layer} layers, vocab {self.n_vocab}{moe}"


def check_file(path: str | Path) -> Path:
    """The path, if it names a regular file with a well-formed GGUF header (checked with bounds, in time and
    memory set by the file's size: engine/gguf_check.py); else a one-line WorkbenchError."""
    return check_gguf(path)


@lru_cache(maxsize=32)
def _inspect(path: Path, mtime_ns: int, size: int) -> ModelInfo:
    """From the bounded header walk (gguf_check), which reads every key once: fast for any vocabulary size (the
    `gguf` package's reader takes ~10 s over Gemma's 262k tokens)."""
    from gguf import LlamaFileType  # imported here: `workbench --help` must not pay for it

    facts: dict[str, Any] = header_facts(path)
    arch = str(facts.get("general.architecture", "unknown"))

    def number(key: str) -> int:
        value = facts.get(f"{arch}.{key}")
        if isinstance(value, list):  # per-layer values (hybrids): the largest
            value = max(value, default=0)
        return int(value) if isinstance(value, (int, float)) else 0

    file_type = facts.get("general.file_type")
    if isinstance(file_type, int):
        try:
            quant = LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            quant = f"type {file_type}"
    else:
        counts = facts.get(MATRIX_TYPES_KEY) or Counter()
        quant = counts.most_common(1)[0][0] if counts else "unknown"
    recurrent = any(k.startswith(f"{arch}.{mark}") or mark in arch for k in facts for mark in _RECURRENT_KEYS)
    return ModelInfo(
        path=path,
        file_size=size,
        name=f"{path.name} ({quant})",  # general.name is often unhelpful ("Smollm2 135M 8k Lc100K Mix1 Ep2")
        arch=arch,
        n_layer=number("block_count"),
        n_vocab=len(facts.get(VOCABULARY_KEY) or []),
        n_ctx_train=number("context_length"),
        n_params=int(facts.get(PARAMS_KEY, 0)),
        quantization=quant,
        expert_count=number("expert_count"),
        expert_used_count=number("expert_used_count"),
        recurrent=recurrent,
        hybrid=recurrent and number("attention.head_count") > 0,
    )


def inspect(path: str | Path) -> ModelInfo:
    """Facts about a GGUF model file, or a one-line WorkbenchError saying why it is not one."""
    p = check_file(path).resolve()
    st = p.stat()
    return _inspect(p, st.st_mtime_ns, st.st_size)
