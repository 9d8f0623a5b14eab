"""Speech segments from VAD windows: when the caller starts and stops speaking.

Pure: callers pass times on the call's audio timeline, so it is tested with made-up windows.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard_gateway.turns.vad import WINDOW_S, VadWindow

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

    @property
    def rising(self) -> bool:
        """Voiced windows have begun that are not speech yet (shorter than `min_speech_s`)."""
        return not self.speaking and self._run_start is not None

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
