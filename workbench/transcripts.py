"""Saving what a session produced (prompt, output, tokens, settings, stats) so nothing is lost.

Each run's transcript is a new file (created exclusively, so two apps saving in the same second get two),
written atomically (engine/userfiles.py); the folder keeps the newest KEEP of them, the oldest pruned.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .engine.settings import Settings
from .engine.transcript import Transcript
from .engine.userfiles import create_new, prune, write_atomic

KEEP = 500  # transcripts kept in the user data dir (README, "Where files go")


def transcripts_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path("workbench") / "transcripts"


def save(transcript: Transcript, prompt: str, settings: Settings, models: dict[str, Any],
         folder: Path | None = None, path: Path | None = None) -> Path:
    """Write the transcript as JSON: to `path` if given (saving a run again), else to a new file. A failure
    is one WorkbenchError; the file there before (saving again) is left as it was."""
    data = {"prompt": prompt, **transcript.to_json(), "settings": asdict(settings), "models": models,
            "settings_changes": [{"step": e.step, "changes": e.changes} for e in transcript.settings_changes]}
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if path is None:
        folder = folder or transcripts_dir()
        path, placeholder = create_new(folder, time.strftime("transcript-%Y%m%d-%H%M%S"), ".json", "transcript")
        placeholder.close()  # the name is ours; the content goes in atomically, below
        try:
            write_atomic(path, text, "transcript")
        except Exception:
            path.unlink(missing_ok=True)  # no empty transcript left behind
            raise
        prune(folder, "transcript-*.json", KEEP)
        return path
    return write_atomic(path, text, "transcript")
