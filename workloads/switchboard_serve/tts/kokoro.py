"""Kokoro-82M (GPU, or CPU at a few times real time) behind the TTS engine protocol.

Kokoro's pipeline splits text into sentences itself and yields 24 kHz audio per piece. Its
weights come from the Hugging Face cache: pre-populate it (or mount it) where nodes have no
internet access.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from switchboard_api.pipeline import TtsSpec

KOKORO_SAMPLE_RATE = 24_000


class KokoroEngine:
    """A Kokoro pipeline loaded once; `spec.voice` is a Kokoro voice such as `af_heart`."""

    def __init__(self, spec: TtsSpec, device: str | None = None) -> None:
        import torch
        from kokoro import KPipeline

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # The voice's first letter is its language: a = American English, b = British, ...
        self._pipeline = KPipeline(lang_code=spec.voice[0], device=device)
        self._voice, self._speed = spec.voice, spec.speed
        self.device = device

    @property
    def sample_rate(self) -> int:
        """Kokoro's output rate."""
        return KOKORO_SAMPLE_RATE

    def synthesize(self, text: str) -> Iterator[npt.NDArray[np.float32]]:
        """One chunk per sentence-sized piece, as Kokoro produces them."""
        for result in self._pipeline(text, voice=self._voice, speed=self._speed):
            audio = result.audio
            if audio is not None:
                yield np.asarray(audio.detach().cpu().numpy(), dtype=np.float32)
