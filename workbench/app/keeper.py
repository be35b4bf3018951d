"""Keeping what a live run made: its journal (on disk as it is generated, workbench/journal.py), its
transcript (saved on demand, before the next run replaces it and on quitting; the journal goes once it is
saved) and the recording of the runs. Plain Python; it tells the user through the `notify` it is given, and
the generation thread through the notices `record` returns."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import transcripts
from ..engine.errors import WorkbenchError
from ..engine.events import DoneEvent, StepEvent
from ..engine.userfiles import Watch, create_new
from ..journal import Journal

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
        self.journal: Journal | None = None  # the run's events on disk as they come, until it is saved
        # default: the user data dir's journal/; beside a transcripts folder given (tests) its own
        self.journal_dir: Path | None = transcripts_dir / "journal" if transcripts_dir else None
        self.watch: Watch | None = None  # the run's model files, checked at every step
        self.active = False  # between generating() and the run's DoneEvent
        self._lock = threading.Lock()  # the journal and the recording: generation thread vs UI thread

    def begin(self, run: RunRecord | None) -> None:
        """Another run takes the screen (None: the screen was cleared); the one before is saved if it was not
        (its journal stays if that failed: the next start recovers it)."""
        self.save_if_unsaved()
        self._end_journal()
        self.run, self.saved_path, self.unsaved = run, None, False
        if run is not None and self.record_path and self.recorder is None:
            self.start_recording(run, self.record_path)

    def generating(self) -> None:
        """The run on screen is producing (again): it needs saving, and its events go to a journal."""
        self.unsaved = self.active = True
        run = self.run
        if run is None:
            return
        self.watch = Watch([p for p in run.models.values() if p])
        with self._lock:
            if self.journal is None:
                try:
                    self.journal = Journal(self._header(run), self.journal_dir)
                except (WorkbenchError, OSError) as e:
                    self.notify(f"no journal for this run ({e}): save it with F8", severity="warning")

    def _end_journal(self) -> None:
        """The run leaves the screen: its journal goes if the run is saved, else it stays on disk, closed
        (the next start recovers it)."""
        with self._lock:
            if self.journal is not None:
                if self.unsaved:
                    self.journal.close()
                else:
                    self.journal.discard()
                self.journal = None

    @staticmethod
    def _header(run: RunRecord) -> dict[str, Any]:
        header: dict[str, Any] = {"prompt": run.prompt, "models": run.models, "settings": asdict(run.settings)}
        if run.baseline:  # a replay shows the speedup over the baseline measured while it was recorded
            header["baseline"] = run.baseline
        return header

    def save(self) -> Path | None:
        """Write the run's transcript (the same run saved again overwrites its own file)."""
        run = self.run
        if run is None or not run.transcript.tokens:
            self.notify("nothing generated yet", severity="warning")
            return None
        try:
            self.saved_path = transcripts.save(run.transcript, run.prompt, run.settings, run.models,
                                               self.transcripts_dir, self.saved_path)
        except (WorkbenchError, OSError) as e:
            where = f"; the run is still in {self.journal.path}" if self.journal else ""
            self.notify(f"cannot save the transcript: {e}{where}", severity="error")
            return None
        self.unsaved = False
        if not self.active:  # saved while generating: the journal goes with the next save
            self._end_journal()
        return self.saved_path

    def save_if_unsaved(self) -> None:
        if self.unsaved and self.run is not None and self.run.transcript.tokens:
            self.save()

    # --- recording --------------------------------------------------------------------------------
    def start_recording(self, run: RunRecord, path: str | Path | None = None) -> None:
        """Record from now on, to `path` (default: a new file in the user data dir)."""
        from ..engine.record import Recorder

        try:
            if path is None:  # a new name, created exclusively: two apps recording in one second get two
                import time

                folder = transcripts.transcripts_dir().parent / "recordings"
                path, file = create_new(folder, time.strftime("session-%Y%m%d-%H%M%S"), ".jsonl", "recording")
                self.recorder = Recorder(path, self._header(run), file=file)
            else:
                self.recorder = Recorder(path, self._header(run))
        except (WorkbenchError, OSError) as e:
            self.notify(str(e), severity="error")
            return
        self.notify(f"recording to {path}")

    def stop_recording(self) -> None:
        with self._lock:
            if self.recorder is not None:
                self.recorder.close()
                self.recorder = None

    def record(self, event: Event) -> list[str]:
        """From the generation thread: one event into the journal and the recording. Returns the notices to
        show (a recording or journal that stopped: the disk is full); a model file that changed on disk is a
        WorkbenchError, which ends the run."""
        notes = []
        if isinstance(event, DoneEvent):
            self.active = False
        elif not self.unsaved:
            self.unsaved = True  # saved while it was generating: what came since needs saving too
        with self._lock:
            for out in (self.recorder, self.journal):
                if out is not None and out.problem is None:
                    out.add(event)
                    if out.problem is not None:
                        notes.append(out.problem)
        if isinstance(event, StepEvent) and self.watch is not None and (change := self.watch.changed()):
            raise WorkbenchError(change)
        return notes

    def close(self) -> None:
        """Quitting: keep the run (in its journal if the transcript cannot be saved), finish the recording."""
        self.save_if_unsaved()
        self._end_journal()
        self.stop_recording()
