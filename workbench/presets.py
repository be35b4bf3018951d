"""Presets: model paths and settings in small TOML files.

Shipped presets live in the repository's presets/ (installed as the data package workbench.presets);
the user's own are saved under the user config dir and win over a shipped one of the same name.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine.errors import WorkbenchError
from .engine.settings import LiveSettings, Settings, validate
from .engine.userfiles import SMALL_MAX, read_text, write_atomic

if TYPE_CHECKING:
    from .engine.session import Engine
from .resources import data_dir


@dataclass
class Preset:
    name: str
    description: str = ""
    target: str | None = None
    draft: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def user_presets_dir() -> Path:
    import platformdirs

    return platformdirs.user_config_path("workbench") / "presets"


def _read(path: Path) -> str:
    return read_text(path, "preset", SMALL_MAX)


def _shipped() -> dict[str, str]:
    return {p.name.removesuffix(".toml"): p.read_text(encoding="utf-8")
            for p in data_dir("presets").iterdir() if p.name.endswith(".toml")}


def _user() -> tuple[dict[str, str], list[str]]:
    """The user's presets that can be read and parsed, and one line for each that cannot (it is skipped: a
    damaged file, a directory or a FIFO among the presets must never stop a start)."""
    folder = user_presets_dir()
    if not folder.is_dir():
        return {}, []
    found, problems = {}, []
    for p in sorted(folder.glob("*.toml")):
        try:
            text = _read(p)
            parse(p.stem, text)
        except WorkbenchError as e:
            problems.append(f"preset skipped: {e}")
            continue
        found[p.stem] = text
    return found, problems


def problems() -> list[str]:
    """One line per user preset file that is skipped, naming it and why (for a notice at start)."""
    return _user()[1]


def names() -> list[str]:
    return sorted({**_shipped(), **_user()[0]})


def _table(name: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise WorkbenchError(f"preset {name!r}: [{key}] must be a table, not {type(value).__name__} {value!r}")
    return value


def parse(name: str, text: str) -> Preset:
    """A preset from its TOML; a value of the wrong kind is one line naming the preset and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise WorkbenchError(f"preset {name!r} is not valid TOML ({e})") from None
    models = _table(name, data, "models")
    for key in ("target", "draft"):
        if key in models and not isinstance(models[key], str):
            raise WorkbenchError(f"preset {name!r}: models.{key} must be a model path or name (a string), "
                                 f"not {models[key]!r}")
    if "description" in data and not isinstance(data["description"], str):
        raise WorkbenchError(f"preset {name!r}: description must be a string")
    try:
        settings = {key: validate(key, value) for key, value in _table(name, data, "settings").items()}
    except WorkbenchError as e:
        raise WorkbenchError(f"preset {name!r}: {e}") from None
    return Preset(name, str(data.get("description", "")), models.get("target"), models.get("draft"), settings)


def load(name_or_path: str) -> Preset:
    """A preset by name (user's first, then shipped) or by the path of a .toml file."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" and os.path.lexists(path):
        return parse(path.stem, _read(path))  # a FIFO or a directory is refused here, at once
    found = {**_shipped(), **_user()[0]}
    if name_or_path not in found:
        user = user_presets_dir() / f"{name_or_path}.toml"
        if "/" not in name_or_path and os.path.lexists(user):
            parse(name_or_path, _read(user))  # says why the user's file of that name was skipped
        raise WorkbenchError(f"no preset {name_or_path!r}; presets: {', '.join(sorted(found))}")
    return parse(name_or_path, found[name_or_path])


def apply(name_or_path: str, settings: LiveSettings, engine: Engine | None = None) -> Preset:
    """Load a preset and put its settings in force, all or nothing: a model file that is not there, a value out
    of range or an expert count the loaded target cannot use changes nothing (a one-line WorkbenchError).
    Loading the preset's models is the caller's (it takes a while)."""
    from .defaults import find_model

    preset = load(name_or_path)
    for ref in (preset.target, preset.draft):
        if ref:
            find_model(ref)
    changes = dict(preset.settings)
    if engine is not None and "experts" in changes and not preset.target:
        engine.check("experts", changes["experts"])
    settings.update(**changes)
    return preset


def _toml_value(value: Any) -> str:
    # The few value types a preset holds; tomllib only reads, and this needs no extra dependency.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def save(name: str, settings: Settings, target: str | None, draft: str | None, description: str = "") -> Path:
    if not name or any(c in name for c in "/\\:") or name.startswith("."):
        raise WorkbenchError(f"{name!r} is not a usable preset name (no slashes, colons or leading dot)")
    lines = [f"description = {_toml_value(description or 'saved from the workbench')}", "", "[models]"]
    if target:
        lines.append(f"target = {_toml_value(target)}")
    if draft:
        lines.append(f"draft = {_toml_value(draft)}")
    lines += ["", "[settings]"]
    defaults = Settings()
    for key in Settings.__dataclass_fields__:
        value = getattr(settings, key)
        if key in ("drafter", "draft_max", "temperature", "ngram") or value != getattr(defaults, key):
            lines.append(f"{key} = {_toml_value(value)}")
    folder = user_presets_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkbenchError(f"cannot create the presets folder {folder}: {e.strerror or e}") from None
    return write_atomic(folder / f"{name}.toml", "\n".join(lines) + "\n", "preset")
