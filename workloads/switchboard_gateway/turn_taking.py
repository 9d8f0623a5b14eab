"""Turn-taking policies: speech start/stop, end of turn, and barge-in.

Pure objects: they never read a clock. Callers pass times (seconds on the call's audio
timeline, or from an injected clock), so every policy is tested with made-up times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from switchboard_gateway.vad import WINDOW_S, VadWindow

#: Speech ends only when the probability falls this far below the start threshold (hysteresis).
HYSTERESIS = 0.15


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking at `at` (start of the first speech window)."""

    at: float


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The caller stopped speaking at `at` (end of the last speech window)."""

    at: float


class SpeechDetector:
    """Speech segments from VAD windows, ignoring blips shorter than `min_speech_s`."""

    def __init__(
        self, threshold: float = 0.5, min_speech_s: float = 0.096, min_silence_s: float = 0.096
    ) -> None:
        self._start_threshold = threshold
        self._stop_threshold = max(0.01, threshold - HYSTERESIS)
        self._min_speech_s, self._min_silence_s = min_speech_s, min_silence_s
        self.speaking = False
        self._run_start: float | None = None  # candidate onset while not yet speaking
        self._last_voiced_end = 0.0

    def update(self, window: VadWindow) -> SpeechStarted | SpeechStopped | None:
        """Feed one window; returns the event it completes, if any."""
        start = window.end - WINDOW_S
        if not self.speaking:
            if window.probability < self._start_threshold:
                self._run_start = None
                return None
            if self._run_start is None:
                self._run_start = start
            if window.end - self._run_start + 1e-9 >= self._min_speech_s:
                self.speaking, self._last_voiced_end = True, window.end
                return SpeechStarted(self._run_start)
            return None
        if window.probability >= self._stop_threshold:
            self._last_voiced_end = window.end
            return None
        if window.end - self._last_voiced_end + 1e-9 >= self._min_silence_s:
            self.speaking, self._run_start = False, None
            return SpeechStopped(self._last_voiced_end)
        return None


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


@dataclass(frozen=True)
class BargeInPolicy:
    """Caller speech interrupts the agent once it is long (and wordy) enough.

    Short acknowledgements ("mm-hm") and coughs should not stop the agent; `min_words` needs a
    partial transcript, so it trades some reaction time for fewer false interruptions.
    """

    enabled: bool = True
    min_speech_s: float = 0.2
    min_words: int = 0

    def should_interrupt(
        self, agent_speaking: bool, speech_onset: float | None, now: float, words_heard: int = 0
    ) -> bool:
        """Whether to stop the agent now."""
        if not (self.enabled and agent_speaking) or speech_onset is None:
            return False
        return now - speech_onset + 1e-9 >= self.min_speech_s and words_heard >= self.min_words
