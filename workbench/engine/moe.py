"""A Mixture-of-Experts model derived from a dense llama-architecture GGUF, with no training (MoEfication).

Each layer's feed-forward block (SwiGLU, n_ff neurons) is cut into an always-on shared expert and `n_experts` routed
experts, all of n_ff / n_experts rows (split_ffn says which neurons go where). A neuron i computes
silu(gate_i . x) * (up_i . x) * down[:, i], so any partition of the neurons into groups, with
the groups' outputs added, is the dense block exactly. What decides quality at fewer experts is which neurons share
a group and how the router ranks the groups.

Grouping: balanced k-means over the neurons' unit gate rows (cosine similarity, every group exactly the same size,
a fixed seed). The gate row alone decides when a neuron fires (silu is far from odd), whereas the (up, down) pair
can flip sign together without changing the function, so up rows carry no grouping signal of their own. Grouping
by weights needs no forward pass: the derivation is numpy over the weights, takes seconds, and depends on no
calibration text. MoEfication reports co-activation grouping somewhat better for ReLU models, where activations are
sparse; SwiGLU activations are dense, so that gain is smaller here, and it would need the model run in numpy.

Router: each group's centroid (the mean of its gate rows), so a group's logit is its neurons' mean gate
pre-activation: the groups whose neurons fire hardest for this token rank first. The logits are scaled down until
they span at most ROUTER_SPREAD, so the softmax weights of all groups are 1/n_experts to within a fraction of a
percent; llama.cpp's `expert_weights_scale` multiplies them back by n_experts (a power of two here: exact). With
every expert in use the block is then the dense block (up to that fraction of a percent); with fewer, the groups
the router ranks lowest for the token are dropped, and the others keep their weight (not renormalised).

Architecture: llama.cpp's `deepseek` (DeepSeek-MoE v1, src/models/deepseek.cpp): llama's attention with the same
(NORM) rope layout, so every other tensor is copied unchanged; softmax gating with unnormalised top-k weights and an
optional weight scale. It requires a shared expert of the routed experts' size (a zero-sized one aborts llama.cpp):
it holds the neurons of largest weight, which dropped with their group cost SmolLM2 most (perplexity 25 -> ~500 at
6 of 8 experts without them, 117 with them), so its rows do work instead of padding. (qwen2moe would need a
shared-expert gate computed as silu(z)/z, NaN at z = 0; glm4moe adds silu(x) when it has no
shared expert; llama and qwen3moe renormalise the chosen weights.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import WorkbenchError
from .gguf_info import check_file

N_EXPERTS = 8
ROUTER_SPREAD = 2.0 ** -10  # the largest router logit's magnitude: softmax weights within ~0.2% of 1/n_experts
MOE_ARCH = "deepseek"
SEED = 0
ITERATIONS = 30
DTYPES = ("F16", "F32")


def balanced_assign(scores: np.ndarray, capacity: int) -> np.ndarray:
    """Each row (a neuron) to a column (a group), no group over `capacity`, preferring high scores: in rounds, every
    unplaced neuron asks for its best group that still has room and each group takes its best askers up to its room."""
    n, k = scores.shape
    labels = np.full(n, -1)
    room = np.full(k, capacity)
    while (labels < 0).any():
        free = np.flatnonzero(labels < 0)
        open_scores = np.where(room > 0, scores[free], -np.inf)
        wish = open_scores.argmax(axis=1)
        for g in np.flatnonzero(room > 0):
            askers = free[wish == g]
            if askers.size:
                best = askers[np.argsort(-scores[askers, g], kind="stable")[:room[g]]]
                labels[best] = g
                room[g] -= best.size
    return labels


def group_neurons(gate: np.ndarray, n_groups: int, iterations: int = ITERATIONS, seed: int = SEED) -> np.ndarray:
    """Group labels (one per neuron, every group n / n_groups neurons) by balanced k-means on the unit gate rows."""
    n = gate.shape[0]
    if n % n_groups:
        raise WorkbenchError(f"{n} feed-forward neurons do not split into {n_groups} equal experts")
    unit = gate / np.maximum(np.linalg.norm(gate, axis=1, keepdims=True), 1e-12)
    centroids = unit[np.random.default_rng(seed).choice(n, n_groups, replace=False)]
    labels = np.full(n, -1)
    for _ in range(iterations):
        new = balanced_assign(unit @ centroids.T, n // n_groups)
        if (new == labels).all():
            break
        labels = new
        centroids = np.stack([unit[labels == g].mean(axis=0) for g in range(n_groups)])
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return labels


def split_ffn(gate: np.ndarray, up: np.ndarray, down: np.ndarray, norm: np.ndarray,
              n_experts: int) -> dict[str, np.ndarray]:
    """One layer's dense SwiGLU block (numpy shapes: gate, up (n_ff, n_embd), down (n_embd, n_ff), the ffn norm's
    weights (n_embd,)) as a shared expert, routed experts and their router, in llama.cpp's tensor names (without
    the "blk.N." prefix). The shared expert takes the n_ff / n_experts neurons of largest weight (|gate| |up| |down|:
    the few outliers, up to 80 times the median in SmolLM2's later layers, are the ones no token can do without);
    the others are grouped into the routed experts, each padded with zero neurons to the shared expert's size."""
    n_ff, n_embd = gate.shape
    size = n_ff // n_experts
    weight = np.linalg.norm(gate, axis=1) * np.linalg.norm(up, axis=1) * np.linalg.norm(down, axis=0)
    ranked = np.argsort(-weight, kind="stable")
    shared, rest = np.sort(ranked[:size]), np.sort(ranked[size:])
    labels = group_neurons(gate[rest], n_experts)
    order = [rest[labels == g] for g in range(n_experts)]
    centroids = np.stack([gate[idx].mean(axis=0) for idx in order])
    # the router sees the normed hidden state x / rms(x) * norm, whose length is at most sqrt(n_embd) * max|norm|
    reach = np.linalg.norm(centroids * norm, axis=1).max() * np.sqrt(n_embd)
    router = centroids * (ROUTER_SPREAD / max(float(reach), 1e-30))
    pad = size - len(order[0])

    def rows(m: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.concatenate([m[idx], np.zeros((pad, m.shape[1]), m.dtype)])

    return {
        "ffn_gate_inp.weight": router.astype(np.float32),
        "ffn_gate_exps.weight": np.stack([rows(gate, idx) for idx in order]),
        "ffn_up_exps.weight": np.stack([rows(up, idx) for idx in order]),
        "ffn_down_exps.weight": np.stack([rows(down.T, idx).T for idx in order]),
        "ffn_gate_shexp.weight": gate[shared],
        "ffn_up_shexp.weight": up[shared],
        "ffn_down_shexp.weight": down[:, shared],
    }


def _copy_metadata(reader: Any, writer: Any, arch: str) -> None:
    """Every key of the source but the architecture's own, which move under the new architecture's name."""
    import gguf

    for field in reader.fields.values():
        name = field.name
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        if name.startswith(arch + "."):
            name = MOE_ARCH + name[len(arch):]
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                value: Any = [bytes(field.parts[i]) for i in field.data]
            else:
                value = [field.parts[i].tolist()[0] for i in field.data]
            writer.add_key_value(name, value, vtype, sub_type=sub)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_key_value(name, bytes(field.parts[field.data[0]]), vtype)
        else:
            writer.add_key_value(name, field.parts[field.data[0]].tolist()[0], vtype)


def derive_moe(source: str | Path, dest: str | Path, n_experts: int = N_EXPERTS, dtype: str = "F16") -> Path:
    """Write the MoE form of the dense llama GGUF `source` at `dest` (skipped when dest is already there), its
    matrices in `dtype` (F16 or F32; the router and norms in F32). Atomic: written beside dest, then renamed."""
    import gguf

    src, out = check_file(source), Path(dest)
    if dtype not in DTYPES:
        raise WorkbenchError(f"the MoE derivation writes {' or '.join(DTYPES)}, not {dtype}")
    if out.is_file() and out.stat().st_size > 0:
        return out
    reader = gguf.GGUFReader(str(src))
    arch_field = reader.fields.get("general.architecture")
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode() if arch_field else "?"
    if arch != "llama":
        raise WorkbenchError(f"{src.name}: an MoE can be derived from a dense llama-architecture model, not {arch}")
    tensors = {t.name: t for t in reader.tensors}
    if any(name.endswith("_exps.weight") for name in tensors):
        raise WorkbenchError(f"{src.name} is already a Mixture-of-Experts model")

    def value(name: str) -> np.ndarray:
        """A tensor as a plain float32 array in numpy's shape (a copy: arithmetic on the reader's memmap views
        pays numpy's memmap bookkeeping on every operation)."""
        t = tensors[name]
        shape = tuple(int(d) for d in reversed(t.shape))
        return np.array(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)

    n_layer = int(reader.fields[f"{arch}.block_count"].parts[-1][0])
    n_ff = int(reader.fields[f"{arch}.feed_forward_length"].parts[-1][0])
    if n_experts < 2 or n_ff % (n_experts * n_experts):
        raise WorkbenchError(f"{src.name}: {n_ff} feed-forward neurons do not split into a shared expert and "
                             f"{n_experts} routed experts of equal size (that takes a multiple of {n_experts ** 2})")
    n_ff_exp = n_ff // n_experts
    float_type = np.float16 if dtype == "F16" else np.float32

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), MOE_ARCH)
    try:
        _copy_metadata(reader, writer, arch)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "F16" else gguf.LlamaFileType.ALL_F32)
        writer.add_expert_count(n_experts)
        writer.add_expert_used_count(n_experts)
        writer.add_expert_feed_forward_length(n_ff_exp)
        writer.add_expert_shared_count(1)
        writer.add_expert_weights_scale(float(n_experts))
        writer.add_leading_dense_block_count(0)
        ffn = {f"blk.{i}.ffn_{p}.weight" for i in range(n_layer) for p in ("gate", "up", "down")}
        for t in reader.tensors:
            if t.name in ffn:
                if t.name.endswith("ffn_gate.weight"):
                    b = t.name[:-len("ffn_gate.weight")]
                    parts = split_ffn(value(b + "ffn_gate.weight"), value(b + "ffn_up.weight"),
                                      value(b + "ffn_down.weight"), value(b + "ffn_norm.weight"), n_experts)
                    for name, array in parts.items():
                        writer.add_tensor(b + name, array if name == "ffn_gate_inp.weight" else array.astype(float_type))
                continue
            array = value(t.name)
            writer.add_tensor(t.name, array.astype(np.float32 if array.ndim == 1 else float_type))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(partial, out)  # atomic: a crash never leaves a half-written model under the final name
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return out
