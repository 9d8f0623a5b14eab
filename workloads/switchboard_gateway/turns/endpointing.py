"""End of turn: when the caller's pause means their turn is over.

Pure objects: they never read a clock; callers pass times on the call's audio timeline.
"""

from __future__ import annotations

from typing import Protocol


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
