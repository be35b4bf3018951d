"""Memory a context will ask for, estimated from the model's GGUF metadata before llama.cpp allocates it, so
that `-c 1000000000` is one line instead of tens of gigabytes taken and a `std::bad_alloc` a minute later.

The KV cache is exact for llama.cpp's default F16 cache: per token, per layer, K and V for each KV head. The
compute buffers are an upper-side estimate of llama.cpp's largest ones for a batch of `n_batch` tokens: the
logits, the attention scores over the whole context (without flash attention) and the feed-forward
activations, as F32. Architectures with a recurrent state are not estimated (their state is not per token).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import WorkbenchError
from .gguf_check import VOCABULARY_KEY, header_facts

GiB = 2**30


@dataclass(frozen=True, slots=True)
class ContextCost:
    kv_bytes: int
    compute_bytes: int

    @property
    def total(self) -> int:
        return self.kv_bytes + self.compute_bytes


def context_cost(path: str | Path, n_ctx: int, n_batch: int) -> ContextCost | None:
    """The estimate for a context of `n_ctx` tokens decoding batches of `n_batch`; None when the metadata does
    not say enough (or the architecture keeps a recurrent state)."""
    facts = header_facts(path)
    arch = str(facts.get("general.architecture", ""))

    def number(key: str) -> int:
        value = facts.get(f"{arch}.{key}")
        if isinstance(value, list):  # per-layer values: the largest
            value = max((v for v in value if isinstance(v, (int, float))), default=0)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    if any(k.startswith((f"{arch}.ssm.", f"{arch}.wkv.", f"{arch}.shortconv.")) for k in facts) or "rwkv" in arch:
        return None
    n_layer, n_embd, n_head = number("block_count"), number("embedding_length"), number("attention.head_count")
    if not (n_layer and n_embd and n_head):
        return None
    n_head_kv = number("attention.head_count_kv") or n_head
    head_k = number("attention.key_length") or n_embd // n_head
    head_v = number("attention.value_length") or n_embd // n_head
    n_vocab = number("vocab_size") or len(facts.get(VOCABULARY_KEY) or [])  # type: ignore[arg-type]
    n_ff = number("feed_forward_length") or 4 * n_embd
    kv = 2 * n_ctx * n_layer * n_head_kv * (head_k + head_v)  # F16: 2 bytes a value
    u = min(n_batch, n_ctx)
    compute = 4 * u * (n_vocab + n_head * n_ctx + 4 * max(n_embd, n_ff))
    return ContextCost(kv, compute)


def available_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 (no psutil or no /proc: the check is skipped, llama.cpp decides)
        return None


def check_context(path: str | Path, n_ctx: int, n_batch: int, name: str = "") -> None:
    """A WorkbenchError, before anything is allocated, when the context would not fit in the memory available."""
    cost = context_cost(path, n_ctx, n_batch)
    free = available_bytes()
    if cost is None or free is None or cost.total <= free:
        return
    raise WorkbenchError(
        f"a context of {n_ctx} tokens{f' for {name}' if name else ''} would take about {_gib(cost.total)} "
        f"(KV cache {_gib(cost.kv_bytes)}, compute buffers {_gib(cost.compute_bytes)}) and {_gib(free)} is "
        f"available: use a smaller -c")


def _gib(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB / 10 else f"{n / 2**20:.0f} MiB"
