"""Tiny llama-architecture GGUF models written with the `gguf` package, for tests and benchmarks.

A few layers of random F32 weights behind a real SentencePiece-style vocabulary (byte fallback, so any
text tokenizes and multi-byte characters split across tokens). Weights come from a fixed seed, so the
files are the same on every machine. `make_pair` gives a target and a draft that share the vocabulary:
the draft is the target plus noise, close enough to be accepted often and different enough to be
rejected sometimes. Logits are scaled so that the argmax usually wins by a clear margin, which keeps
greedy decoding away from near-ties where tiny numeric differences between batch sizes could flip it.

`write_mamba` writes a Mamba (state-space, recurrent) model over the same vocabulary, so a tiny llama
model can draft for it: the case where a rejected draft cannot be cut from the target's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np

WORDS = (
    "the of and to in is was for on that with as by at from it an be this are or his which but not had have "
    "were they one their all been has more when who will no there if can about out up what some time only so "
    "into than its other two new first also after over most these like people would may then many such world "
    "model token draft speculative decoding target accept reject fast slow cache verify sample greedy"
).split()
CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()"
SPACE = "\u2581"  # SentencePiece's visible space


def vocabulary(renamed: dict[int, str] | None = None) -> tuple[list[str], list[float], list[int]]:
    """tokens, scores and token types of an SPM vocabulary with byte fallback."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    pieces: list[str] = [SPACE, *CHARS]
    for word in WORDS:  # every prefix, so the SPM bigram merges can reach the whole word
        whole = SPACE + word
        pieces += [whole[:i] for i in range(2, len(whole) + 1)]
    seen = set(tokens)
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(gguf.TokenType.NORMAL)
    for i, text in (renamed or {}).items():
        tokens[i] = text
    # longer pieces score higher, so merges prefer them
    scores = [0.0] * 3 + [-1000.0] * 256 + [float(len(t)) - i * 1e-4 for i, t in enumerate(tokens[259:])]
    return tokens, scores, [int(t) for t in types]


@dataclass
class TinySpec:
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_ff: int = 128
    n_ctx: int = 512
    seed: int = 0
    logit_gain: float = 4.0
    n_expert: int = 0  # > 0 writes a Mixture-of-Experts feed-forward
    n_expert_used: int = 0
    renamed: dict[int, str] = field(default_factory=dict)  # token texts to change (incompatible vocabularies)
    extra_tokens: int = 0  # pad the vocabulary with this many tokens
    tokenizer: str = "llama"  # GGUF's tokenizer.ggml.model ("llama" is SentencePiece, "gpt2" BPE)


def weights(spec: TinySpec, n_vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(spec.seed)
    e, f = spec.n_embd, spec.n_ff

    def mat(rows: int, cols: int, gain: float = 1.0) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    w = {
        "token_embd.weight": rng.standard_normal((n_vocab, e)).astype(np.float32),
        "output_norm.weight": np.ones(e, dtype=np.float32),
        "output.weight": mat(n_vocab, e, spec.logit_gain),
    }
    # quieter byte tokens: the text is mostly words, yet bytes (and split characters) still occur
    w["output.weight"][3:259] *= 0.5
    for i in range(spec.n_layer):
        b = f"blk.{i}."
        w[b + "attn_norm.weight"] = np.ones(e, dtype=np.float32)
        w[b + "ffn_norm.weight"] = np.ones(e, dtype=np.float32)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w[b + name + ".weight"] = mat(e, e)
        if spec.n_expert:
            x = spec.n_expert
            w[b + "ffn_gate_inp.weight"] = mat(x, e, 2.0)
            w[b + "ffn_gate_exps.weight"] = np.stack([mat(f, e) for _ in range(x)])
            w[b + "ffn_up_exps.weight"] = np.stack([mat(f, e) for _ in range(x)])
            w[b + "ffn_down_exps.weight"] = np.stack([mat(e, f) for _ in range(x)])
        else:
            w[b + "ffn_gate.weight"] = mat(f, e)
            w[b + "ffn_up.weight"] = mat(f, e)
            w[b + "ffn_down.weight"] = mat(e, f)
    return w


def write_model(path: Path, spec: TinySpec, tensors: dict[str, np.ndarray] | None = None,
                vocab: tuple[list[str], list[float], list[int]] | None = None) -> Path:
    tokens, scores, types = vocab or vocabulary(spec.renamed)
    for i in range(spec.extra_tokens):
        tokens.append(f"{SPACE}extra{i}")
        scores.append(-1.0)
        types.append(int(gguf.TokenType.NORMAL))
    tensors = tensors if tensors is not None else weights(spec, len(tokens))
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(path.stem)
    w.add_context_length(spec.n_ctx)
    w.add_embedding_length(spec.n_embd)
    w.add_block_count(spec.n_layer)
    w.add_feed_forward_length(spec.n_ff)
    w.add_head_count(spec.n_head)
    w.add_head_count_kv(spec.n_head)
    w.add_rope_dimension_count(spec.n_embd // spec.n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    if spec.n_expert:
        w.add_expert_count(spec.n_expert)
        w.add_expert_used_count(spec.n_expert_used)
    _finish(w, spec.tokenizer, (tokens, scores, types), tensors)
    return path


def _finish(w: gguf.GGUFWriter, tokenizer: str, vocab: tuple[list[str], list[float], list[int]],
            tensors: dict[str, np.ndarray]) -> None:
    """Write the vocabulary, its special tokens and the tensors, and close the file (shared by both architectures)."""
    tokens, scores, types = vocab
    w.add_tokenizer_model(tokenizer)
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    for name, array in tensors.items():
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_pair(folder: Path, noise: float = 0.1, seed: int = 0) -> tuple[Path, Path]:
    """A target and a draft over one vocabulary; the draft's weights are the target's plus noise."""
    spec = TinySpec(seed=seed)
    n_vocab = len(vocabulary()[0])
    target = weights(spec, n_vocab)
    rng = np.random.default_rng(seed + 1000)
    draft = {k: (v + noise * v.std() * rng.standard_normal(v.shape)).astype(np.float32) if v.ndim > 1 else v
             for k, v in target.items()}
    return (write_model(folder / "tiny-target.gguf", spec, target),
            write_model(folder / "tiny-draft.gguf", TinySpec(seed=seed), draft))


def mamba_weights(n_vocab: int, seed: int = 0, n_layer: int = 2, n_embd: int = 64, d_state: int = 16,
                  d_conv: int = 4, logit_gain: float = 4.0) -> dict[str, np.ndarray]:
    """Random weights in the shapes llama.cpp's LLM_ARCH_MAMBA loads (src/models/mamba.cpp), initialised the way
    Mamba is (A = -[1..d_state] per channel, softplus(dt bias) between 0.001 and 0.1), as numpy arrays: their
    shapes are ggml's ne reversed. llama.cpp supports only d_inner = 2 * n_embd; dt_rank is ceil(n_embd / 16)."""
    rng = np.random.default_rng(seed)
    e, d_inner, dt_rank = n_embd, 2 * n_embd, math.ceil(n_embd / 16)

    def mat(rows: int, cols: int, gain: float = 1.0) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    w = {
        "token_embd.weight": rng.standard_normal((n_vocab, e)).astype(np.float32),
        "output_norm.weight": np.ones(e, dtype=np.float32),
        "output.weight": mat(n_vocab, e, logit_gain),
    }
    w["output.weight"][3:259] *= 0.5  # quieter byte tokens, as in `weights`
    for i in range(n_layer):
        b = f"blk.{i}."
        w[b + "attn_norm.weight"] = np.ones(e, dtype=np.float32)
        w[b + "ssm_in.weight"] = mat(2 * d_inner, e)  # x, then the gate z
        w[b + "ssm_conv1d.weight"] = mat(d_inner, d_conv)  # the converter squeezes HF's (d_inner, 1, d_conv)
        w[b + "ssm_conv1d.bias"] = (0.1 * rng.standard_normal(d_inner)).astype(np.float32)
        w[b + "ssm_x.weight"] = mat(dt_rank + 2 * d_state, d_inner)  # dt, B, C
        w[b + "ssm_dt.weight"] = mat(d_inner, dt_rank)
        # softplus(bias) = log(1 + e^bias) from 0.001 to 0.1, spread log-uniformly like Mamba's; arithmetic only (no
        # exp or log, whose last bits vary with numpy's SIMD paths), so the file is the same on every machine
        w[b + "ssm_dt.bias"] = rng.uniform(-6.9, -2.25, d_inner).astype(np.float32)
        # the converter writes A = -exp(A_log); no ".weight" suffix on ssm_a and ssm_d
        w[b + "ssm_a"] = -np.tile(np.arange(1, d_state + 1, dtype=np.float32), (d_inner, 1))
        w[b + "ssm_d"] = np.ones(d_inner, dtype=np.float32)
        w[b + "ssm_out.weight"] = mat(e, d_inner, 2.0)
    return w


def write_mamba(path: Path, seed: int = 0, n_layer: int = 2, n_embd: int = 64, d_state: int = 16, d_conv: int = 4,
                n_ctx: int = 512, logit_gain: float = 4.0) -> Path:
    """A tiny Mamba model (llama.cpp's "mamba" architecture: a recurrent state, no KV cache) with the vocabulary,
    token ids and special tokens of the llama models above, so that one of them can be its draft model."""
    tokens, scores, types = vocabulary()
    tensors = mamba_weights(len(tokens), seed, n_layer, n_embd, d_state, d_conv, logit_gain)
    w = gguf.GGUFWriter(str(path), "mamba")
    w.add_name(path.stem)
    w.add_context_length(n_ctx)  # a recurrent state has no length limit; this is what `Model` sizes n_ctx by
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(0)  # as convert_hf_to_gguf.py writes them for Mamba: unused
    w.add_head_count(0)
    w.add_block_count(n_layer)
    w.add_ssm_conv_kernel(d_conv)
    w.add_ssm_inner_size(2 * n_embd)
    w.add_ssm_state_size(d_state)
    w.add_ssm_time_step_rank(math.ceil(n_embd / 16))
    w.add_ssm_dt_b_c_rms(False)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    _finish(w, "llama", (tokens, scores, types), tensors)
    return path


def cross_vocab_draft(folder: Path, seed: int = 0, noise: float = 0.05, extra: int = 150) -> Path:
    """`make_pair`'s target in another vocabulary, as its draft: the word pieces under other ids, `extra` tokens
    more (so llama.cpp's size and token-text rules both refuse the pair), and the target's weights moved with
    their tokens plus a little noise. It computes nearly the target's function of the text, so translated
    drafts are mostly accepted; the same text tokenizes into other ids."""
    spec = TinySpec(seed=seed)
    tokens, scores, types = vocabulary()
    n = len(tokens)
    target = weights(spec, n)
    rng = np.random.default_rng(seed + 2000)
    order = np.arange(n)  # the draft's token i is the target's token order[i]; specials and bytes keep their ids
    order[259:] = 259 + rng.permutation(n - 259)
    vocab = ([tokens[j] for j in order] + [f"{SPACE}extra{i}" for i in range(extra)],
             [scores[j] for j in order] + [-1.0] * extra, [types[j] for j in order] + [int(gguf.TokenType.NORMAL)] * extra)
    draft = {k: (v + noise * v.std() * rng.standard_normal(v.shape)).astype(np.float32) if v.ndim > 1 else v
             for k, v in target.items()}
    for name in ("token_embd.weight", "output.weight"):
        rows = draft[name][order]
        new_rows = np.zeros((extra, rows.shape[1]), dtype=np.float32) if name == "output.weight" else \
            rng.standard_normal((extra, rows.shape[1])).astype(np.float32)
        draft[name] = np.concatenate([rows, new_rows])
    return write_model(folder / "tiny-cross-draft.gguf", spec, draft, vocab)
