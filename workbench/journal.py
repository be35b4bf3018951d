"""The journal, as an editor keeps a swap file: what a run generates reaches disk as it is generated, so that
a death nobody can catch (SIGBUS from a model file cut under the process, SIGKILL, the OOM killer, a power
cut) loses at most the step being made.

A journal is a recording (engine/record.py's format, so `workbench replay` plays it) in the user data dir's
journal/ folder, flushed after every verify step and held under an exclusive lock while its process lives.
It is removed once the run is kept otherwise (the app saved its transcript; a headless run ended). A journal
whose lock can be taken belongs to a process that died: the next start turns it into a transcript and a
recording, and says where they are (`recover`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine.errors import WorkbenchError
from .engine.events import Event
from .engine.userfiles import create_new

if TYPE_CHECKING:
    from .engine.record import Recorder


def journal_dir() -> Path:
    from .transcripts import transcripts_dir

    return transcripts_dir().parent / "journal"


class Journal:
    """One run's journal: `add` every event, `discard` once the run is kept elsewhere."""

    def __init__(self, header: dict[str, Any], folder: Path | None = None) -> None:
        from .engine.record import Recorder

        path, file = create_new(folder or journal_dir(), time.strftime("run-%Y%m%d-%H%M%S"), ".jsonl", "journal")
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
        self.path = path
        self.recorder: Recorder = Recorder(path, header, file=file)

    @property
    def problem(self) -> str | None:
        return self.recorder.problem

    def add(self, event: Event) -> None:
        self.recorder.add(event)

    def close(self) -> None:
        """The journal stays on disk (the next start recovers it)."""
        self.recorder.close()

    def discard(self) -> None:
        """The run is kept elsewhere: the journal goes."""
        self.recorder.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def orphans(folder: Path | None = None) -> list[Path]:
    """Journals no living process holds (their lock can be taken), oldest first."""
    folder = folder or journal_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("run-*.jsonl")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            continue  # its process is alive
        finally:
            os.close(fd)
        found.append(path)
    return found


def recover(folder: Path | None = None, transcripts_folder: Path | None = None) -> list[str]:
    """Every orphaned journal turned into a transcript (and moved to the recordings as a replayable
    recording); one line each for the user saying where it went. A journal that holds no token is removed;
    one that cannot be turned into a transcript stays, and its line says where it is."""
    from . import transcripts
    from .engine.record import load
    from .engine.settings import Settings
    from .engine.transcript import Transcript

    lines = []
    for path in orphans(folder):
        try:
            recording = load(path, partial=True)
        except WorkbenchError:
            with contextlib.suppress(OSError):
                path.unlink()  # not even a header: the process died before its first line
            continue
        transcript = Transcript()
        for _, event in recording.events:
            transcript.add(event)
        if not transcript.tokens:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        header = recording.header
        try:
            saved = transcripts.save(transcript, header.get("prompt", ""), Settings(**header.get("settings", {})),
                                     header.get("models", {}), transcripts_folder)
        except (WorkbenchError, OSError, TypeError) as e:
            lines.append(f"an unsaved run of a process that died is in {path} (could not save it as a transcript: {e})")
            continue
        kept = _keep_as_recording(path)
        replay = f"; replay it with `workbench replay {kept}`" if kept else ""
        lines.append(f"recovered an unsaved run ({len(transcript.emitted_ids)} tokens) of a process that died: "
                     f"transcript {saved}{replay}")
    return lines


def _keep_as_recording(path: Path) -> Path | None:
    """The journal moved beside the recordings (it is one); None if it could not be, and then it is removed."""
    folder = path.parent.parent / "recordings"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"recovered-{path.name}"
        os.replace(path, target)
        return target
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
