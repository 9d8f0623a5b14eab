"""Piper (ONNX, CPU): the packaged joe voice synthesises at ~40x real time on 2 cores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
from piper import PiperVoice, SynthesisConfig

from switchboard_api.pipeline import TtsSpec


class PiperEngine:
    """A Piper voice loaded once and shared across calls."""

    def __init__(self, spec: TtsSpec, voice_path: Path) -> None:
        self._voice = PiperVoice.load(str(voice_path))
        # No random phoneme-duration noise: the same text always lasts as long, so playback
        # positions, barge-in truncation and cached phrases are reproducible.
        self._config = SynthesisConfig(length_scale=1.0 / spec.speed, noise_w_scale=0.0)

    @property
    def sample_rate(self) -> int:
        """The voice's native rate (22 050 Hz for the medium voices)."""
        rate: int = self._voice.config.sample_rate
        return rate

    def synthesize(self, text: str) -> Iterator[npt.NDArray[np.float32]]:
        """One chunk per sentence (Piper splits on sentence boundaries itself)."""
        for chunk in self._voice.synthesize(text, syn_config=self._config):
            yield np.asarray(chunk.audio_float_array, dtype=np.float32)
