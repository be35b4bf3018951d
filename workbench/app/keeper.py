"""Keeping what a live run made: its transcript (saved on demand, before the next run replaces it and on
quitting) and the recording of the runs. Plain Python; it tells the user through the `notify` it is given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import transcripts
from ..engine.errors import WorkbenchError

if TYPE_CHECKING:
    from ..engine.events import Event
    from ..engine.record import Recorder
    from ..engine.settings import Settings
    from ..engine.transcript import Transcript

Notify = Callable[..., None]  # the screen's notify(message, severity=...)


@dataclass
class RunRecord:
    """The run on screen: its transcript grows while it runs; `settings` are those it started with."""

    transcript: Transcript
    prompt: str
    settings: Settings
    models: dict[str, str]
    baseline: float | None = None  # plain decoding's tokens/s on this pair, when measured: a replay's speedup


class Keeper:
    def __init__(self, notify: Notify, transcripts_dir: Path | None = None, record_path: str | None = None) -> None:
        self.notify = notify
        self.transcripts_dir = transcripts_dir
        self.record_path = record_path  # --record: record from the first run on
        self.recorder: Recorder | None = None
        self.run: RunRecord | None = None
        self.saved_path: Path | None = None  # the file of the run on screen, once saved
        self.unsaved = False

    def begin(self, run: RunRecord | None) -> None:
        """Another run takes the screen (None: the screen was cleared); the one before is saved if it was not."""
        self.save_if_unsaved()
        self.run, self.saved_path, self.unsaved = run, None, False
        if run is not None and self.record_path and self.recorder is None:
            self.start_recording(run, self.record_path)

    def generating(self) -> None:
        """The run on screen is producing (again): it needs saving."""
        self.unsaved = True

    def save(self) -> Path | None:
        """Write the run's transcript (the same run saved again overwrites its own file)."""
        run = self.run
        if run is None or not run.transcript.tokens:
            self.notify("nothing generated yet", severity="warning")
            return None
        try:
            self.saved_path = transcripts.save(run.transcript, run.prompt, run.settings, run.models,
                                               self.transcripts_dir, self.saved_path)
        except OSError as e:
            self.notify(f"cannot save the transcript: {e}", severity="error")
            return None
        self.unsaved = False
        return self.saved_path

    def save_if_unsaved(self) -> None:
        if self.unsaved and self.run is not None and self.run.transcript.tokens:
            self.save()

    # --- recording --------------------------------------------------------------------------------
    def start_recording(self, run: RunRecord, path: str | Path | None = None) -> None:
        """Record from now on, to `path` (default: a new file in the user data dir)."""
        from ..engine.record import Recorder

        if path is None:
            folder = transcripts.transcripts_dir().parent / "recordings"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / time.strftime("session-%Y%m%d-%H%M%S.jsonl")
        header: dict[str, Any] = {"prompt": run.prompt, "models": run.models, "settings": asdict(run.settings)}
        if run.baseline:
            header["baseline"] = run.baseline
        try:
            self.recorder = Recorder(path, header)
        except (WorkbenchError, OSError) as e:
            self.notify(str(e), severity="error")
            return
        self.notify(f"recording to {path}")

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None

    def record(self, event: Event) -> None:
        """From the generation thread: one event into the recording, if one is open."""
        recorder = self.recorder
        if recorder is not None:
            recorder.add(event)

    def close(self) -> None:
        """Quitting: keep the run, finish the recording."""
        self.save_if_unsaved()
        self.stop_recording()
