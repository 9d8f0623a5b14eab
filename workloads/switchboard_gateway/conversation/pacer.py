"""Agent audio out at real time, in 20 ms frames, with the playback position known.

Frames leave slightly ahead of real time (`lead_s`) so network jitter does not starve the
caller's player, and never more: on barge-in, the audio already sent but not yet played is at
most `lead_s`, and the `clear` event makes the client drop it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from switchboard_gateway.audio import bytes_per_second
from switchboard_gateway.conversation.clock import Clock
from switchboard_gateway.events import AgentAudioEvent, AudioFormat, Encoding, OutboundEvent

FRAME_S = 0.02


class OutputPacer:
    """Sends one call's agent audio frames, paced, and tracks what has been played."""

    def __init__(
        self,
        send: Callable[[OutboundEvent], Awaitable[None]],
        fmt: AudioFormat,
        clock: Clock,
        lead_s: float = 0.06,
    ) -> None:
        self._send, self._clock, self._lead_s = send, clock, lead_s
        self._frame_bytes = int(bytes_per_second(fmt) * FRAME_S)
        #: Silence in the format: μ-law's zero level is 0xFF (0x00 is near full scale).
        self._silence = b"\xff" if fmt.encoding is Encoding.MULAW else b"\x00"
        self._next_due = 0.0
        self._pending = b""
        self.sequence = 0
        self.first_frame_at: float | None = None
        self._turn_frames = 0
        self._turn_started = 0.0
        #: The last sequence sent before this turn began (this turn's frames follow it).
        self.turn_after_sequence = 0

    def start_turn(self) -> None:
        """Reset the playback position for a new agent turn."""
        self._turn_frames, self._pending = 0, b""
        self.first_frame_at = None
        self.turn_after_sequence = self.sequence

    @property
    def turn_frames(self) -> int:
        """How many frames of this turn have been sent."""
        return self._turn_frames

    @property
    def played_s(self) -> float:
        """Seconds of this turn's audio the caller has heard by now (sent and due)."""
        if self.first_frame_at is None:
            return 0.0
        elapsed = self._clock.now() - self._turn_started
        return max(0.0, min(self._turn_frames * FRAME_S, elapsed))

    @property
    def speaking(self) -> bool:
        """Whether sent audio is still playing at the caller."""
        return self.first_frame_at is not None and self._clock.now() < self._next_due

    async def play(self, turn: int, data: bytes) -> None:
        """Send `data` (output format) as frames at real time; cancellable between frames."""
        data = self._pending + data
        whole = len(data) - len(data) % self._frame_bytes
        self._pending = data[whole:]
        for start in range(0, whole, self._frame_bytes):
            await self._frame(turn, data[start : start + self._frame_bytes])

    async def finish(self, turn: int) -> None:
        """Send the last partial frame of the turn, padded with silence."""
        if self._pending:
            frame = self._pending.ljust(self._frame_bytes, self._silence)
            self._pending = b""
            await self._frame(turn, frame)

    async def _frame(self, turn: int, frame: bytes) -> None:
        now = self._clock.now()
        if self._next_due < now:
            self._next_due = now
        wait = self._next_due - self._lead_s - now
        if wait > 0:
            await self._clock.sleep(wait)
        self.sequence += 1
        if self.first_frame_at is None:
            self.first_frame_at = self._clock.now()
            self._turn_started = max(self.first_frame_at, self._next_due)
        self._turn_frames += 1
        self._next_due += FRAME_S
        await self._send(AgentAudioEvent(turn, self.sequence, frame))

    def clear(self) -> int:
        """Stop: forget queued audio; returns the last sequence sent."""
        self._pending = b""
        self._next_due = self._clock.now()
        return self.sequence
