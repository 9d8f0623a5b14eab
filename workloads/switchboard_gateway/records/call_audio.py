"""The gateway's tap on one call's audio: caller events in, agent frames and clears out.

It feeds a `StereoRecorder` writing to a temporary file (`$TMPDIR`: the pod's /tmp emptyDir)
and, when the call has ended, finishes the WAV and hands it to the recording store in a worker
thread. A recording that fails (a full disk, an unreachable bucket) is logged and dropped: it
never fails the call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

from switchboard_gateway.events import (
    AgentAudioEvent,
    CallerAudio,
    ClearEvent,
    InboundEvent,
    OutboundEvent,
    StartCall,
)
from switchboard_gateway.records.recordings import RecordingStore, relative_name
from switchboard_gateway.records.stereo import StereoRecorder

log = logging.getLogger(__name__)


class CallAudio:
    """Records one call; `store` ends the recording and returns its reference."""

    def __init__(
        self,
        call_id: str,
        agent: str,
        start: StartCall,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_id, self.agent = call_id, agent
        descriptor, name = tempfile.mkstemp(prefix="switchboard-recording-", suffix=".wav")
        os.close(descriptor)
        self.path = Path(name)
        try:
            self._recorder = StereoRecorder(
                self.path, start.input_format, start.output_format, max_seconds
            )
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        self._clock, self._began = clock, clock()
        self._failed = False

    def _now(self) -> float:
        return self._clock() - self._began

    def _guarded(self, step: Callable[[], None]) -> None:
        if self._failed:
            return
        try:
            step()
        except Exception:
            self._failed = True
            log.exception("recording of call %s failed; the call goes on unrecorded", self.call_id)
            self._recorder.close()

    async def inbound(self, events: AsyncIterable[InboundEvent]) -> AsyncIterator[InboundEvent]:
        """The caller's events, unchanged; their audio is recorded as it arrives."""
        async for event in events:
            if isinstance(event, CallerAudio):
                self._caller(event.data)
            yield event

    def _caller(self, data: bytes) -> None:
        at = self._now()
        self._guarded(lambda: self._recorder.caller_audio(data, at))

    def outbound(self, event: OutboundEvent) -> None:
        """Note an event on its way to the caller (agent audio, clears)."""
        if isinstance(event, AgentAudioEvent):
            data, at = event.data, self._now()
            self._guarded(lambda: self._recorder.agent_audio(data, at))
        elif isinstance(event, ClearEvent):
            at = self._now()
            self._guarded(lambda: self._recorder.clear(at))

    async def store(self, recordings: RecordingStore, started_at: datetime) -> str | None:
        """Finish the WAV and store it (in a worker thread); its reference, or None."""
        return await asyncio.to_thread(self._finish_and_put, recordings, started_at)

    def _finish_and_put(self, recordings: RecordingStore, started_at: datetime) -> str | None:
        try:
            if self._failed:
                return None
            frames = self._recorder.finish()
            if frames == 0:
                return None
            name = relative_name(self.agent, self.call_id, started_at)
            return recordings.put(self.path, name)
        except Exception:
            log.exception("could not store the recording of call %s", self.call_id)
            return None
        finally:
            self._recorder.close()
            self.path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Drop the recording (nothing to store)."""
        self._recorder.close()
        self.path.unlink(missing_ok=True)
