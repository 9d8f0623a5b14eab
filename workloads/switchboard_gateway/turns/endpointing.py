"""End of turn: when the caller's pause means their turn is over.

Pure objects: they never read a clock; callers pass times on the call's audio timeline.
"""

from __future__ import annotations

from typing import Protocol

from switchboard_api.pipeline import (
    SILENCE_ENDPOINTING_MS,
    SMART_TURN_ENDPOINTING_MS,
    SMART_TURN_MAX_SILENCE_MS,
    SMART_TURN_THRESHOLD,
    TurnSpec,
)


class Endpointing(Protocol):
    """Decides when the caller's turn is over."""

    def speech_started(self, at: float) -> None:
        """The caller (re)started speaking."""
        ...

    def speech_stopped(self, at: float) -> None:
        """The caller paused."""
        ...

    def turn_ended(self, now: float) -> bool:
        """Whether the turn is over at `now`; true at most once per turn."""
        ...


class SilenceEndpointing:
    """The turn ends after `silence_s` of silence following speech."""

    def __init__(self, silence_s: float = 0.5) -> None:
        self._silence_s = silence_s
        self._stopped_at: float | None = None

    def speech_started(self, at: float) -> None:
        """Speech resumed: the pause does not count."""
        self._stopped_at = None

    def speech_stopped(self, at: float) -> None:
        """Start timing the pause."""
        self._stopped_at = at

    def turn_ended(self, now: float) -> bool:
        """True once the pause has lasted long enough."""
        if self._stopped_at is None or now - self._stopped_at + 1e-9 < self._silence_s:
            return False
        self._stopped_at = None
        return True


class SmartTurnEndpointing:
    """A short pause ends the turn if Smart Turn judged it complete; else a long one does.

    `verdict(pause_at, complete)` gives the model's answer for the pause that began at
    `pause_at`; it counts once `silence_s` of that pause has passed. Without a "complete"
    verdict (incomplete, late, or failed) the turn ends after `max_silence_s`. A verdict for a
    pause that speech has since ended, or that arrives after the turn ended, is ignored.
    """

    def __init__(self, silence_s: float, max_silence_s: float, threshold: float = 0.5) -> None:
        if not 0 < silence_s < max_silence_s:
            raise ValueError("silence_s must be positive and below max_silence_s")
        self.threshold = threshold
        self._silence_s, self._max_silence_s = silence_s, max_silence_s
        self._stopped_at: float | None = None
        self._complete = False

    def speech_started(self, at: float) -> None:
        """Speech resumed: the pause and its verdict do not count."""
        self._stopped_at, self._complete = None, False

    def speech_stopped(self, at: float) -> None:
        """Start timing the pause; its verdict is still to come."""
        self._stopped_at, self._complete = at, False

    def verdict(self, pause_at: float, complete: bool) -> None:
        """Smart Turn's answer for the pause that began at `pause_at`."""
        if self._stopped_at is not None and abs(pause_at - self._stopped_at) < 1e-9:
            self._complete = complete

    def turn_ended(self, now: float) -> bool:
        """True once a complete pause lasted `silence_s`, or any pause `max_silence_s`."""
        if self._stopped_at is None:
            return False
        silence = now - self._stopped_at + 1e-9
        if silence < self._max_silence_s and not (self._complete and silence >= self._silence_s):
            return False
        self._stopped_at, self._complete = None, False
        return True


def make_endpointing(turn: TurnSpec) -> SilenceEndpointing | SmartTurnEndpointing:
    """The endpointing a pipeline's `turn` stage asks for."""
    if turn.strategy == "smart-turn":
        return SmartTurnEndpointing(
            (turn.endpointing_silence_ms or SMART_TURN_ENDPOINTING_MS) / 1000,
            (turn.max_endpointing_silence_ms or SMART_TURN_MAX_SILENCE_MS) / 1000,
            turn.smart_turn_threshold or SMART_TURN_THRESHOLD,
        )
    return SilenceEndpointing((turn.endpointing_silence_ms or SILENCE_ENDPOINTING_MS) / 1000)
