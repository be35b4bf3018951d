"""Saving what a session produced (prompt, output, tokens, settings, stats) so nothing is lost."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .engine.settings import Settings
from .engine.transcript import Transcript


def transcripts_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path("workbench") / "transcripts"


def save(transcript: Transcript, prompt: str, settings: Settings, models: dict[str, Any],
         folder: Path | None = None, path: Path | None = None) -> Path:
    """Write the transcript as JSON: to `path` if given (saving a run again), else to a new file."""
    if path is None:
        folder = folder or transcripts_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"transcript-{stamp}.json"
        n = 1
        while path.exists():
            path = folder / f"transcript-{stamp}-{n}.json"
            n += 1
    data = {"prompt": prompt, **transcript.to_json(), "settings": asdict(settings), "models": models,
            "settings_changes": [{"step": e.step, "changes": e.changes} for e in transcript.settings_changes]}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    return path
