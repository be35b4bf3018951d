"""Which ggml operation makes a verify batch compute different logits from a batch of one token?

Not a test: a probe. It evaluates the same position twice with llama.cpp's eval callback watching every
tensor of the graph: once as a batch of 1 token (plain decoding) and once as the first of a batch of 2
(speculative verification), and prints the first tensors (in graph order) whose values for that position
differ, with the ggml op that produced them. Then the same with flash attention on.

    python benchmarks/batch_invariance.py [-m embedded|embedded:F16|PATH] [-t THREADS]
"""

from __future__ import annotations

import argparse
import ctypes

import llama_cpp
import numpy as np

from workbench.defaults import resolve_model
from workbench.engine.models import LoadOptions, Model

_ggml = ctypes.CDLL(llama_cpp.llama_cpp._lib._name.replace("libllama", "libggml-base"))  # noqa: SLF001
_ggml.ggml_get_name.restype = ctypes.c_char_p
_ggml.ggml_get_name.argtypes = [ctypes.c_void_p]
_ggml.ggml_op_desc.restype = ctypes.c_char_p
_ggml.ggml_op_desc.argtypes = [ctypes.c_void_p]
_ggml.ggml_get_data.restype = ctypes.c_void_p
_ggml.ggml_get_data.argtypes = [ctypes.c_void_p]
_ggml.ggml_is_contiguous.restype = ctypes.c_bool
_ggml.ggml_is_contiguous.argtypes = [ctypes.c_void_p]
GGML_TYPE_F32 = 0
BATCH = 9  # the last context token and 8 drafts
P0 = 0  # the position of the batch's first token

captured: dict[str, tuple[str, np.ndarray]] = {}
order: list[str] = []
capturing = False


@llama_cpp.ggml_backend_sched_eval_callback
def _watch(t: int, ask: bool, _user: int) -> bool:
    if ask:
        return capturing  # ask for every tensor's data while capturing
    kind = ctypes.c_int.from_address(t).value
    ne = (ctypes.c_int64 * 4).from_address(t + 16)
    if kind != GGML_TYPE_F32 or not _ggml.ggml_is_contiguous(t):
        return True
    name = _ggml.ggml_get_name(t).decode()
    rows, cols = ne[0], ne[1] * ne[2] * ne[3]
    data = np.ctypeslib.as_array(ctypes.cast(_ggml.ggml_get_data(t), ctypes.POINTER(ctypes.c_float)),
                                 shape=(cols, rows)).copy()
    captured[name] = (_ggml.ggml_op_desc(t).decode(), data)
    if name not in order:
        order.append(name)
    return True


def _with_callback(original):  # noqa: ANN001, ANN202
    def params():  # noqa: ANN202
        p = original()
        p.cb_eval = _watch
        return p
    return params


def run(ref: str, threads: int, flash: bool) -> None:
    global capturing
    low_level.llama_context_default_params = _with_callback(_default_params)  # what Llama() calls
    options = LoadOptions(n_ctx=512, n_threads=threads, kv_overrides=None)
    original_init = llama_cpp.Llama.__init__

    def init(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        k["flash_attn"] = flash
        original_init(self, *a, **k)

    llama_cpp.Llama.__init__ = init
    m = Model(resolve_model(ref), options)
    llama_cpp.Llama.__init__ = original_init
    prompt = m.tokenize(m.chat_prompt("Summarize: the city council met on Tuesday to discuss the new bus lanes."),
                        add_bos=m.add_bos)
    m.eval(prompt[:-1])
    global P0
    P0 = len(prompt) - 1
    # plain decoding: one token at a time, capturing every tensor of each step
    tokens, alone = [prompt[-1]], []
    for _ in range(BATCH):
        capturing = True
        captured.clear()
        row = np.array(m.eval([tokens[-1]], logits="last")[-1])
        capturing = False
        alone.append((row, dict(captured)))
        tokens.append(int(np.argmax(row)))
    # verification: the same tokens in one batch
    m.truncate(len(prompt) - 1)
    capturing = True
    captured.clear()
    rows = [np.array(r) for r in m.eval(tokens[:BATCH], logits="all")]
    together = dict(captured)
    capturing = False
    diffs = [float(np.max(np.abs(a - b))) for (a, _), b in zip(alone, rows, strict=True)]
    print(f"\n{ref}, flash attention {'on' if flash else 'off'}: {len(together)} tensors watched; logits of positions "
          f"0..{BATCH - 1} of a verify batch vs the same positions decoded one by one: max |diff| "
          + " ".join(f"{d:.3g}" for d in diffs))
    j = next((i for i, d in enumerate(diffs) if d > 0), None)
    if j is None:
        print("  bit-identical at every position")
    else:
        shown = 0
        for name in order:
            if name not in together or name not in alone[j][1]:
                continue
            op, a = alone[j][1][name]
            _, b = together[name]
            if b.shape[0] == BATCH and a.shape[0] == 1 and a.shape[1] == b.shape[1]:  # one row per token
                diff = float(np.max(np.abs(a[0] - b[j])))
            elif a.shape[0] * BATCH == b.shape[0] and name.startswith("kq"):  # attention: a row per head and token
                n = min(a.shape[1], b.shape[1], P0 + j + 1)  # the keys both runs attend to
                heads = a.shape[0]
                diff = float(np.max(np.abs(a[:, :n] - b.reshape(heads, BATCH, -1)[:, j, :n])))
            else:
                continue  # KV cache views
            if diff > 0:
                print(f"  position {j}: {name:24s} op {op:12s} max |diff| {diff:.3g}")
                shown += 1
                if shown == 6:
                    break
    m.close()


low_level = llama_cpp.llama_cpp  # the module the high-level Llama reads its defaults from
_default_params = low_level.llama_context_default_params


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-m", "--model", default="embedded")
    p.add_argument("-t", "--threads", type=int, default=2)
    args = p.parse_args()
    for flash in (False, True):
        order.clear()
        run(args.model, args.threads, flash)


if __name__ == "__main__":
    main()
