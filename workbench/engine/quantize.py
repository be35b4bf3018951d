"""Deriving another quantisation of a GGUF with llama.cpp's own quantizer: a same-vocabulary pair
(for example an F16 target and its Q4_1 or Q2_K draft) from one shipped model, in about a second."""

from __future__ import annotations

import ctypes
from pathlib import Path

from .errors import WorkbenchError
from .gguf_info import check_file

FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
          "Q3_K_M": 12, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}


def derive(source: str | Path, dest: str | Path, ftype: str, threads: int = 0) -> Path:
    """Write `source` requantised to `ftype` at `dest` (skipped when dest is already there)."""
    out = Path(dest)
    if ftype not in FTYPES:
        raise WorkbenchError(f"unknown quantisation {ftype!r}: choose one of {', '.join(FTYPES)}")
    if out.is_file() and out.stat().st_size > 0:
        return out  # checked when it is loaded; the source's header walk is only needed to derive it
    import llama_cpp

    src = check_file(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype]
    params.allow_requantize = True
    params.nthread = threads
    partial = out.with_suffix(".partial")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(partial).encode(), ctypes.byref(params))
    if rc != 0:
        partial.unlink(missing_ok=True)
        raise WorkbenchError(f"llama.cpp could not quantise {src.name} to {ftype} (code {rc})")
    partial.replace(out)  # atomic: a crash never leaves a half-written model under the final name
    return out
