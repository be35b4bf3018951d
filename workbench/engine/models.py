"""Loading GGUF models and evaluating token batches on them.

llama-cpp-python's `Llama` loads the model (kv overrides, threads, context) and tokenizes; decoding
goes through our own `llama_batch`, because the high-level wrapper either keeps logits for every
position (`logits_all`: n_ctx x n_vocab floats, gigabytes for large vocabularies) or only for the last.
Speculation needs logits exactly at the verified positions, and KV-cache rollback after a rejection.
"""

from __future__ import annotations

import ctypes
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import WorkbenchError
from .gguf_info import ModelInfo, inspect
from .memory import check_context
from .state import Rollback, rollback_for
from .userfiles import llama_path

# llama.cpp's common_speculative_are_compatible constants
VOCAB_MAX_SIZE_DIFFERENCE = 128
VOCAB_CHECK_START_TOKEN_ID = 5


def default_threads() -> int:
    """Physical cores: llama.cpp decodes fastest with one thread per core."""
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:  # psutil is a dependency; this only guards odd platforms
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class LoadOptions:
    n_ctx: int = 0  # 0: the model's training context, at most 4096
    n_threads: int = field(default_factory=default_threads)
    n_batch: int = 512
    kv_overrides: dict[str, int | float | bool | str] | None = None
    # llama.cpp's flash attention (-fa): None leaves llama.cpp's default. Its CPU kernel computes each query
    # row alike in a batch of 1 or 9, so on quantised weights verification is then batch-invariant
    # (benchmarks/batch_invariance.py; README, "What is guaranteed").
    flash_attn: bool | None = None
    # ngram-cache's files in llama.cpp's format (-lcs / -lcd): read at load; the dynamic one is written back
    lookup_cache_static: str | None = None
    lookup_cache_dynamic: str | None = None
    # draft with a model of another vocabulary, re-tokenising its drafts (drafters/cross_vocab.py) instead of
    # refusing the pair
    cross_vocab: bool = False

    def __post_init__(self) -> None:
        if self.n_ctx != 0 and self.n_ctx < 16:
            raise WorkbenchError(f"context size must be 0 (the model's own, at most 4096) or at least 16 tokens, not {self.n_ctx}")
        if self.n_threads < 1:
            raise WorkbenchError(f"threads must be at least 1, not {self.n_threads}")
        if self.n_batch < 16:
            raise WorkbenchError(f"batch size must be at least 16, not {self.n_batch}")


_llama_log: deque[tuple[int, str]] = deque(maxlen=50)  # llama.cpp's recent warnings and errors, with their level
_log_callback = None
# ggml's log levels (ggml.h: enum ggml_log_level): NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_WARN, _ERROR, _CONT = 3, 4, 5


def _capture_llama_log() -> None:
    """Keep llama.cpp's log off the user's terminal (it would tear through the app and the headless
    output) and remember its last warnings and errors, so a failed load can say why in one line."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace").strip()
        if level == _CONT and _llama_log and line:  # the rest of the message before it
            last_level, last = _llama_log[-1]
            _llama_log[-1] = (last_level, f"{last} {line}")
        elif level in (_WARN, _ERROR) and line:
            _llama_log.append((level, line))

    _log_callback = callback  # keep a reference: llama.cpp holds only the C pointer
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def last_llama_error() -> str:
    """Why llama.cpp failed, as it said it: its first error since the log was cleared (the cause; the later ones
    are "failed to load model"-style consequences) without its function prefix, else its last warning."""
    errors = [line for level, line in _llama_log if level == _ERROR]
    if errors:
        return errors[0].split(": ", 1)[-1] if errors[0].startswith("llama_") else errors[0]
    return _llama_log[-1][1] if _llama_log else ""


# the conversation format llama-server falls back to for a model without a chat template
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


class Model:
    """One loaded GGUF with its own context (KV cache) and decode batch."""

    def __init__(self, path: str | Path, options: LoadOptions | None = None) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.options = options or LoadOptions()
        self.info: ModelInfo = inspect(path)
        n_ctx = self.options.n_ctx or min(4096, self.info.n_ctx_train or 4096)
        check_context(self.info.path, n_ctx, self.options.n_batch, self.info.path.name)  # before llama.cpp asks
        _capture_llama_log()
        _llama_log.clear()
        with llama_path(self.info.path) as model_path:  # a name that is not UTF-8 too
            try:
                self.llm = llama_cpp.Llama(
                    model_path=model_path,
                    n_ctx=n_ctx,
                    n_batch=self.options.n_batch,
                    n_ubatch=self.options.n_batch,
                    n_threads=self.options.n_threads,
                    n_threads_batch=self.options.n_threads,
                    kv_overrides=self.options.kv_overrides,
                    **({"flash_attn": self.options.flash_attn} if self.options.flash_attn is not None else {}),
                    logits_all=False,
                    verbose=False,
                )
            except Exception:  # llama-cpp-python says only "Failed to load model from file"
                why = last_llama_error() or "unknown reason"
                raise WorkbenchError(f"llama.cpp could not load {self.info.path.name}: {why}") from None
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.n_ctx = int(llama_cpp.llama_n_ctx(self.llm.ctx))
        # llama.cpp caps the batch at the context size asked for (-c 64 with -b 512: 64) and aborts the process on
        # a longer batch: evaluate in batches of what it took
        self.n_batch = min(self.options.n_batch, int(llama_cpp.llama_n_batch(self.llm.ctx)))
        self.recurrent = bool(llama_cpp.llama_model_is_recurrent(self.llm.model)) or bool(
            llama_cpp.llama_model_is_hybrid(self.llm.model))
        self.n_seq_max = 1
        if self.recurrent:
            self._spare_sequence()
        self._memory = llama_cpp.llama_get_memory(self.llm.ctx)
        self._batch = llama_cpp.llama_batch_init(self.options.n_batch, 0, 1)
        n = self.options.n_batch
        # numpy views onto the batch's arrays: filling a batch is then a few slice assignments
        self._tok = np.ctypeslib.as_array(self._batch.token, shape=(n,))
        self._pos = np.ctypeslib.as_array(self._batch.pos, shape=(n,))
        self._out = np.ctypeslib.as_array(self._batch.logits, shape=(n,))
        np.ctypeslib.as_array(self._batch.n_seq_id, shape=(n,))[:] = 1
        for i in range(n):
            self._batch.seq_id[i][0] = 0
        self._piece_buf = ctypes.create_string_buffer(256)
        self.cached: list[int] = []  # the tokens the KV cache holds, in order (kept by eval and truncate only)
        self._closed = False
        # A recurrent state cannot forget its last tokens: it is kept aside before a verify batch and put back
        # after a rejection (engine/state.py). None for a KV cache, or when llama.cpp cannot save the state.
        self.rollback: Rollback | None = None
        self.rollback_problem = ""  # why a recurrent model has no rollback
        if self.recurrent:
            try:
                self.rollback = rollback_for(self)
                self.rollback.save()  # a probe: a state llama.cpp cannot save is found at load, not mid-run
                self.rollback.take_seconds()
            except WorkbenchError as e:
                self.rollback, self.rollback_problem = None, str(e)

    def _spare_sequence(self) -> None:
        """Make the context again with a spare sequence, where CopyRollback keeps the state aside.
        llama-cpp-python's Llama always makes a one-sequence context; a unified KV cache keeps a hybrid's
        attention layers from splitting the context between the two sequences. If llama.cpp refuses, the
        model keeps its context and rolls back with snapshots instead."""
        from llama_cpp import _internals

        params = self.llm.context_params
        params.n_seq_max, params.kv_unified = 2, True
        try:
            context = _internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
        except ValueError:
            params.n_seq_max, params.kv_unified = 1, False
            return
        self.llm._ctx.close()
        self.llm._ctx = context
        self.llm._stack.callback(context.close)
        self.n_seq_max = 2

    # --- vocabulary -------------------------------------------------------------------------
    def tokenize(self, text: str | bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        data = text.encode("utf-8") if isinstance(text, str) else text
        return self.llm.tokenize(data, add_bos=add_bos, special=special)

    def piece(self, token: int) -> bytes:
        n = self._lib.llama_token_to_piece(self.vocab, token, self._piece_buf, len(self._piece_buf), 0, False)
        return self._piece_buf.raw[:max(n, 0)]

    def is_eog(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    def token_text(self, token: int) -> bytes:
        return self._lib.llama_vocab_get_text(self.vocab, token) or b""

    @property
    def chat_template(self) -> str | None:
        return self.llm.metadata.get("tokenizer.chat_template")

    def chat_prompt(self, user_text: str) -> str:
        """`user_text` as one user turn in the model's own GGUF chat template (raw text if it has none)."""
        return self.chat_messages([{"role": "user", "content": user_text}])

    def chat_messages(self, messages: list[dict[str, str]]) -> str:
        """A conversation ({"role", "content"} dicts) in the model's own GGUF chat template, ending where the
        assistant's turn begins. Without a template: one user turn is its raw text, a longer conversation ChatML
        (llama-server's fallback)."""
        template = self.chat_template
        if not template:
            if len(messages) == 1 and messages[0]["role"] == "user":
                return messages[0]["content"]
            template = CHATML
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        text = lambda t: self.token_text(t).decode("utf-8", errors="replace") if t >= 0 else ""  # noqa: E731
        formatter = Jinja2ChatFormatter(template, eos_token=text(self.llm.token_eos()), bos_token=text(self.llm.token_bos()))
        prompt = formatter(messages=messages).prompt
        bos = text(self.llm.token_bos())
        # the template may write BOS itself; tokenize() adds it too, so keep one
        return prompt[len(bos):] if bos and self.add_bos and prompt.startswith(bos) else prompt

    @property
    def add_bos(self) -> bool:
        return bool(self._lib.llama_vocab_get_add_bos(self.vocab))

    # --- evaluation -------------------------------------------------------------------------
    def eval(self, tokens: Sequence[int], logits: str = "none") -> list[np.ndarray]:
        """Append `tokens` to the context and evaluate them.

        logits: "none", "last" or "all" positions of `tokens`. Returns views onto llama.cpp's logits
        buffer, valid only until the next eval: read them (argmax, copy) before evaluating again.
        """
        lib = self._lib
        n_batch = self.n_batch
        if self.n_past + len(tokens) > self.n_ctx:
            raise WorkbenchError(f"context full: {self.n_past} + {len(tokens)} tokens exceed the context of {self.n_ctx}")
        rows: list[np.ndarray] = []
        for start in range(0, len(tokens), n_batch):
            chunk = tokens[start:start + n_batch]
            n = len(chunk)
            self._tok[:n] = chunk
            self._pos[:n] = np.arange(self.n_past, self.n_past + n)
            self._out[:n] = 1 if logits == "all" else 0
            last_chunk = start + n >= len(tokens)
            if logits == "last" and last_chunk:
                self._out[n - 1] = 1
            self._batch.n_tokens = n
            rc = lib.llama_decode(self.llm.ctx, self._batch)
            if rc != 0:
                self.truncate(self.n_past)  # a failed decode may leave part of the batch in the cache
                raise WorkbenchError(f"llama_decode failed with code {rc} at position {self.n_past}")
            self.cached.extend(chunk)
            wanted = range(n) if logits == "all" else [n - 1] if (logits == "last" and last_chunk) else []
            rows.extend(np.ctypeslib.as_array(lib.llama_get_logits_ith(self.llm.ctx, i), shape=(self.n_vocab,))
                        for i in wanted)
            if rows and not last_chunk:  # the next batch's decode overwrites the buffer these views read
                rows = [np.array(r) for r in rows]
        return rows

    def truncate(self, n_keep: int) -> None:
        """Forget every position from n_keep on (KV-cache rollback after rejected drafts). A recurrent state
        can only be forgotten whole (n_keep 0): llama.cpp refuses a partial cut (engine/state.py rolls it back)."""
        if self.recurrent and 0 < n_keep < self.n_past:
            raise WorkbenchError(f"{self.info.name}: a recurrent state cannot be cut back to {n_keep} tokens")
        if n_keep < self.n_past or n_keep == 0:
            if not self._lib.llama_memory_seq_rm(self._memory, 0, n_keep, -1):
                raise WorkbenchError(f"{self.info.name}: this model's state cannot be rolled back")
        del self.cached[n_keep:]

    @property
    def n_past(self) -> int:
        """Positions held in the KV cache."""
        return len(self.cached)

    @n_past.setter
    def n_past(self, n: int) -> None:
        """A state put back at n positions (engine/state.py): the cache holds the first n tokens again."""
        if n > len(self.cached):
            raise ValueError(f"the cache holds {len(self.cached)} tokens, not {n}")
        del self.cached[n:]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._lib.llama_batch_free(self._batch)
            self.llm.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


# --- MoE expert count -------------------------------------------------------------------------
def check_experts(info: ModelInfo, n: int) -> None:
    """Raise a WorkbenchError unless n experts per token is usable for this model (0: the model's own)."""
    if n == 0:
        return
    if not info.is_moe:
        raise WorkbenchError(f"{info.name} is not a Mixture-of-Experts model: the expert count does not apply")
    if not 1 <= n <= info.expert_count:
        raise WorkbenchError(f"experts must be from 1 to {info.expert_count} for {info.name}, not {n}")


def expert_options(model_or_options: Model | LoadOptions, info: ModelInfo, n: int) -> LoadOptions:
    """Load options that force n experts per token (llama.cpp's --override-kv ARCH.expert_used_count=int:N)."""
    options = model_or_options.options if isinstance(model_or_options, Model) else model_or_options
    overrides = dict(options.kv_overrides or {})
    overrides.pop(info.expert_used_key, None)
    if n:
        overrides[info.expert_used_key] = n
    return replace(options, kv_overrides=overrides or None)


# --- compatibility ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VocabFacts:
    """What llama.cpp compares between a target and a draft vocabulary."""

    vocab_type: int
    n_vocab: int
    bos: int
    eos: int
    add_bos: bool
    add_eos: bool
    texts: Any  # Callable[[int], bytes]

    @classmethod
    def of(cls, model: Model) -> VocabFacts:
        lib, v = model._lib, model.vocab
        return cls(
            vocab_type=int(lib.llama_vocab_type(v)),
            n_vocab=model.n_vocab,
            bos=int(lib.llama_vocab_bos(v)),
            eos=int(lib.llama_vocab_eos(v)),
            add_bos=bool(lib.llama_vocab_get_add_bos(v)),
            add_eos=bool(lib.llama_vocab_get_add_eos(v)),
            texts=model.token_text,
        )


class IncompatibleModels(WorkbenchError):
    pass


# llama.cpp's vocabulary types (enum llama_vocab_type) as users know them, and the GGUF tokenizer names behind them
VOCAB_TYPES = {0: "none", 1: "SPM", 2: "BPE", 3: "WPM", 4: "UGM", 5: "RWKV", 6: "PLaMo-2"}
_TOKENIZER_TYPES = {"no_vocab": 0, "none": 0, "llama": 1, "gpt2": 2, "bert": 3, "t5": 4, "rwkv": 5, "plamo2": 6}


def vocab_facts_from_file(path: str | Path) -> VocabFacts:
    """The vocabulary facts that can be read from a GGUF's metadata without loading its weights (type, size, token
    texts; the special tokens are compared after loading, where llama.cpp has settled their defaults). The file
    has passed the bounded header check (gguf_check) before this reads it."""
    from .gguf_check import read_vocabulary

    name, tokens = read_vocabulary(path)
    return VocabFacts(vocab_type=_TOKENIZER_TYPES.get(name, -1), n_vocab=len(tokens), bos=-1, eos=-1, add_bos=False,
                      add_eos=False, texts=tokens.__getitem__)


def pair_problem(target: VocabFacts, draft: VocabFacts, cross_vocab: bool) -> str | None:
    """None for a pair llama.cpp would draft with; else the rule it fails, which refuses the pair unless
    cross-vocabulary drafting was chosen (then the draft's text is translated: drafters/cross_vocab.py)."""
    try:
        check_compatible(target, draft)
        return None
    except IncompatibleModels as e:
        if cross_vocab:
            return str(e).removeprefix("incompatible pair: ")
        raise IncompatibleModels(f"{e}; cross-vocabulary drafting can use it anyway, re-tokenising each draft "
                                 "(--cross-vocab, or the Models tab's \"cross-vocab draft\" box)") from None


def check_compatible(target: VocabFacts, draft: VocabFacts) -> None:
    """llama.cpp's rules for a usable draft (common_speculative_are_compatible); raises saying which failed."""
    if target.vocab_type != draft.vocab_type:
        names = (VOCAB_TYPES.get(target.vocab_type, "unknown"), VOCAB_TYPES.get(draft.vocab_type, "unknown"))
        raise IncompatibleModels(f"incompatible pair: vocabulary types differ (the target's tokenizer is {names[0]}, "
                                 f"the draft's {names[1]})")
    for name in ("bos", "eos", "add_bos", "add_eos"):
        t, d = getattr(target, name), getattr(draft, name)
        if t != d:
            raise IncompatibleModels(f"incompatible pair: special tokens differ ({name}: target {t}, draft {d})")
    if abs(target.n_vocab - draft.n_vocab) > VOCAB_MAX_SIZE_DIFFERENCE:
        raise IncompatibleModels(f"incompatible pair: vocabulary sizes differ by more than {VOCAB_MAX_SIZE_DIFFERENCE} "
                                 f"(target {target.n_vocab}, draft {draft.n_vocab})")
    for i in range(VOCAB_CHECK_START_TOKEN_ID, min(target.n_vocab, draft.n_vocab)):
        t, d = target.texts(i), draft.texts(i)
        if t != d:
            raise IncompatibleModels(f"incompatible pair: token {i} differs (target {t.decode(errors='replace')!r}, "
                                     f"draft {d.decode(errors='replace')!r})")
