"""End of turn: when the caller's pause means their turn is over.

Pure objects: they never read a clock; callers pass times on the call's audio timeline.
"""

from __future__ import annotations

from collections.abc import Callable
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


class SmartTurnEndpointing:
    """After `silence_s`, ask a model whether the utterance sounds complete.

    If it does (probability ≥ `threshold`) the turn ends; otherwise the caller gets up to
    `max_silence_s` to go on ("I'd like to book... um..."). The model runs once per pause.
    """

    def __init__(
        self,
        complete_probability: Callable[[], float],
        silence_s: float = 0.5,
        max_silence_s: float = 2.0,
        threshold: float = 0.5,
    ) -> None:
        self._predict = complete_probability
        self._silence_s, self._max_silence_s, self._threshold = silence_s, max_silence_s, threshold
        self._stopped_at: float | None = None
        self._verdict: bool | None = None

    def speech_started(self, at: float) -> None:
        """Speech resumed: forget the pause and the model's verdict on it."""
        self._stopped_at, self._verdict = None, None

    def speech_stopped(self, at: float) -> None:
        """Start timing the pause."""
        self._stopped_at, self._verdict = at, None

    def turn_ended(self, now: float) -> bool:
        """True when the model says complete after `silence_s`, or at `max_silence_s`."""
        if self._stopped_at is None:
            return False
        silence = now - self._stopped_at + 1e-9
        if silence < self._silence_s:
            return False
        if self._verdict is None:
            self._verdict = self._predict() >= self._threshold
        if self._verdict or silence >= self._max_silence_s:
            self._stopped_at, self._verdict = None, None
            return True
        return False
