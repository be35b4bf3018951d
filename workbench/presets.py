"""Presets: model paths and settings in small TOML files.

Shipped presets live in the repository's presets/ (installed as the data package workbench.presets);
the user's own are saved under the user config dir and win over a shipped one of the same name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine.errors import WorkbenchError
from .engine.settings import LiveSettings, Settings, validate

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


def _shipped() -> dict[str, str]:
    return {p.name.removesuffix(".toml"): p.read_text(encoding="utf-8")
            for p in data_dir("presets").iterdir() if p.name.endswith(".toml")}


def _user() -> dict[str, str]:
    folder = user_presets_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.toml"))}


def names() -> list[str]:
    return sorted({**_shipped(), **_user()})


def parse(name: str, text: str) -> Preset:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise WorkbenchError(f"preset {name!r} is not valid TOML ({e})") from None
    models = data.get("models", {})
    settings = {key: validate(key, value) for key, value in data.get("settings", {}).items()}
    return Preset(name, str(data.get("description", "")), models.get("target"), models.get("draft"), settings)


def load(name_or_path: str) -> Preset:
    """A preset by name (user's first, then shipped) or by the path of a .toml file."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" and path.is_file():
        return parse(path.stem, path.read_text(encoding="utf-8"))
    found = {**_shipped(), **_user()}
    if name_or_path not in found:
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
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
