"""What a GGUF file is, read from its header with the `gguf` package, without loading any weights.

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

from .errors import WorkbenchError
from .gguf_check import check_gguf

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


def _value(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.get_field(key)
    if field is None:
        return default
    value = field.contents()
    return value


@lru_cache(maxsize=32)
def _inspect(path: Path, mtime_ns: int, size: int) -> ModelInfo:
    from gguf import GGUFReader, LlamaFileType  # imported here: `workbench --help` must not pay for it

    try:
        reader = GGUFReader(path)
    except Exception as e:  # the reader raises assorted errors on a damaged header
        raise WorkbenchError(f"{path} is truncated or corrupt ({e})") from None
    end = max((t.data_offset + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise WorkbenchError(f"{path} is truncated: its tensors need {end} bytes, the file has {size}")
    arch = str(_value(reader, "general.architecture", "unknown"))
    tokens = reader.get_field("tokenizer.ggml.tokens")
    file_type = _value(reader, "general.file_type")
    if file_type is not None:
        try:
            quant = LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            quant = f"type {file_type}"
    else:
        counts = Counter(t.tensor_type.name for t in reader.tensors if len(t.shape) > 1)
        quant = counts.most_common(1)[0][0] if counts else "unknown"
    recurrent = any(k.startswith(f"{arch}.{mark}") or mark in arch for k in reader.fields for mark in _RECURRENT_KEYS)
    attention = int(_value(reader, f"{arch}.attention.head_count", 0) or 0) if recurrent else 0
    return ModelInfo(
        path=path,
        file_size=size,
        name=f"{path.name} ({quant})",  # general.name is often unhelpful ("Smollm2 135M 8k Lc100K Mix1 Ep2")
        arch=arch,
        n_layer=int(_value(reader, f"{arch}.block_count", 0)),
        n_vocab=len(tokens.data) if tokens is not None else 0,
        n_ctx_train=int(_value(reader, f"{arch}.context_length", 0)),
        n_params=sum(int(t.n_elements) for t in reader.tensors),
        quantization=quant,
        expert_count=int(_value(reader, f"{arch}.expert_count", 0) or 0),
        expert_used_count=int(_value(reader, f"{arch}.expert_used_count", 0) or 0),
        recurrent=recurrent,
        hybrid=recurrent and attention > 0,
    )


def inspect(path: str | Path) -> ModelInfo:
    """Facts about a GGUF model file, or a one-line WorkbenchError saying why it is not one."""
    p = check_file(path).resolve()
    st = p.stat()
    return _inspect(p, st.st_mtime_ns, st.st_size)
