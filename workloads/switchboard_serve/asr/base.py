"""What every ASR engine returns and the protocol it implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

#: Engines take mono float32 audio at this rate; callers resample first.
ASR_SAMPLE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its timing (seconds from the start of the audio)."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Transcript:
    """The text of one utterance, its language, words and an overall confidence in [0, 1]."""

    text: str
    language: str
    words: tuple[Word, ...]
    confidence: float
    audio_seconds: float


class AsrEngine(Protocol):
    """Transcribes one utterance (mono float32 at 16 kHz). Blocking: run it off the event loop."""

    def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        *,
        language: str | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        """Transcribe `audio`; `language` overrides the configured one.

        `prompt` is text that precedes the audio (earlier words of the same utterance).
        """
        ...
