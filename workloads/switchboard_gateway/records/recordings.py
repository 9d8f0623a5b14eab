"""Where finished recordings go: a directory (`switchboard up`) or an S3-compatible bucket.

A recording is referenced from its call record: `file:<path relative to the directory>` or
`s3://<bucket>/<key>`. Both keep `<agent namespace>/<agent name>/<yyyy>/<mm>/<dd>/<call id>.wav`
(under the bucket's prefix). Every method blocks (file system, boto3): callers run them in a
worker thread (`asyncio.to_thread`), never on the event loop that paces calls' audio.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from switchboard_api.gateway import RecordingsConfig

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


class RecordingNotFoundError(Exception):
    """The reference names no recording this store holds."""


def relative_name(agent: str, call_id: str, started_at: datetime) -> str:
    """`<namespace>/<name>/<yyyy>/<mm>/<dd>/<call id>.wav` (UTC date of the call's start)."""
    namespace, _, name = agent.partition("/")
    parts = [namespace, name, call_id]
    if not all(_NAME.match(part) for part in parts):
        raise ValueError(f"not a storable agent or call id: {agent!r}, {call_id!r}")
    day = started_at.astimezone(UTC)
    return f"{namespace}/{name}/{day:%Y}/{day:%m}/{day:%d}/{call_id}.wav"


@dataclass(frozen=True)
class Span:
    """Bytes `start`..`end` (inclusive) of a recording of `size` bytes, and those bytes."""

    start: int
    end: int
    size: int
    data: bytes


class RecordingStore(Protocol):
    """Recordings kept for the console and deleted after their retention (blocking methods)."""

    def put(self, wav: Path, name: str) -> str:
        """Store the WAV file `wav` (consumed) under `name`; returns its reference."""
        ...

    def size(self, reference: str) -> int:
        """The recording's size in bytes (`RecordingNotFoundError` when there is none)."""
        ...

    def read(self, reference: str, start: int, end: int) -> Span:
        """Bytes `start`..`end` (inclusive, clipped to the recording)."""
        ...

    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: delete recordings stored before `cutoff`; returns how many."""
        ...


class DirectoryRecordings:
    """Recordings as files under one directory (mode 0600: they are personal data)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def put(self, wav: Path, name: str) -> str:
        """Move the file into place (atomically: a reader never sees half a recording)."""
        target = self.directory / name
        partial = target.with_suffix(".partial")
        for attempt in range(2):  # retention may remove a day's folder as it empties
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                shutil.move(wav, partial)
                break
            except FileNotFoundError:
                if attempt or not wav.exists():
                    raise
        os.chmod(partial, 0o600)
        os.replace(partial, target)
        return f"file:{name}"

    def _path(self, reference: str) -> Path:
        name = reference.removeprefix("file:")
        if not reference.startswith("file:") or ".." in Path(name).parts or name.startswith("/"):
            raise RecordingNotFoundError(reference)
        path = self.directory / name
        if not path.is_file():
            raise RecordingNotFoundError(reference)
        return path

    def size(self, reference: str) -> int:
        """The file's size."""
        return self._path(reference).stat().st_size

    def read(self, reference: str, start: int, end: int) -> Span:
        """Bytes of the file."""
        path = self._path(reference)
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            end = min(end, size - 1)
            file.seek(start)
            data = file.read(max(0, end - start + 1))
        return Span(start, start + len(data) - 1, size, data)

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete recordings last written before `cutoff`, then the folders left empty."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        limit = cutoff.timestamp()
        for path in sorted(self.directory.rglob("*.wav")):
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                removed += 1
        for folder in sorted(self.directory.rglob("*"), key=lambda p: -len(p.parts)):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return removed


def open_recordings(config: RecordingsConfig) -> RecordingStore:
    """The store `config` names (an S3 client is made here: credentials from the environment)."""
    if config.s3 is not None:
        from switchboard_gateway.records.recordings_s3 import S3Recordings

        return S3Recordings(config.s3)
    directory = Path(str(config.directory))  # RecordingsConfig holds exactly one
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return DirectoryRecordings(directory)


async def enforce_recording_retention(store: RecordingStore, keep: timedelta) -> None:
    """Delete recordings older than `keep`, hourly, until cancelled."""
    while True:
        try:
            removed = await asyncio.to_thread(store.delete_older_than, datetime.now(UTC) - keep)
            if removed:
                log.info("retention removed %d recording(s)", removed)
        except Exception:  # the bucket may be briefly unreachable; try again next round
            log.exception("recording retention failed")
        await asyncio.sleep(RETENTION_EVERY_S)
