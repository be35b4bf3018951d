"""Where the shipped data folders (themes/, presets/) are.

Installed, they are the data packages workbench.shipped_themes and workbench.shipped_presets (pyproject maps the top-level
folders there). Run from a checkout, `import workbench` finds the source folder first, where they are
siblings of the package instead: look there too.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path


def data_dir(name: str) -> Traversable:
    try:
        return resources.files(f"workbench.shipped_{name}")
    except (ModuleNotFoundError, TypeError):
        return Path(__file__).resolve().parent.parent / name
