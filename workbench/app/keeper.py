"""Keeping what a live run made: its transcript (saved on demand, before the next run and on quitting)
and its recording. Plain Python: the live screen calls it and shows what it says."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import transcripts

if TYPE_CHECKING:
    from ..engine.events import Event
    from ..engine.record import Recorder
    from ..engine.settings import Settings
    from ..engine.transcript import Transcript


class Keeper:
    def __init__(self, transcripts_dir: Path | None = None, record_path: str | None = None) -> None:
        self.transcripts_dir = transcripts_dir
        self.record_path = record_path  # --record: record from the first run on
        self.recorder: Recorder | None = None
        self.saved_path: Path | None = None  # the file of the run on screen, once saved
        self.unsaved = False

    def save(self, transcript: Transcript, prompt: str, settings: Settings, models: dict[str, str]) -> Path:
        """Write the run's transcript (the same run saved again overwrites its own file); OSError on failure."""
        self.saved_path = transcripts.save(transcript, prompt, settings, models, self.transcripts_dir, self.saved_path)
        self.unsaved = False
        return self.saved_path

    # --- recording --------------------------------------------------------------------------------
    def start_recording(self, header: dict[str, Any], path: str | Path | None = None) -> Path:
        """Record from now on, to `path` (default: a new file in the user data dir); a WorkbenchError if refused."""
        from ..engine.record import Recorder

        if path is None:
            folder = transcripts.transcripts_dir().parent / "recordings"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / time.strftime("session-%Y%m%d-%H%M%S.jsonl")
        self.recorder = Recorder(path, header)
        return Path(path)

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None

    def record(self, event: Event) -> None:
        """From the generation thread: one event into the recording, if one is open."""
        recorder = self.recorder
        if recorder is not None:
            recorder.add(event)


def recording_header(prompt: str, models: dict[str, str], settings: Settings) -> dict[str, Any]:
    return {"prompt": prompt, "models": models, "settings": asdict(settings)}
