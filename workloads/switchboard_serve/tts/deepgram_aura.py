"""Deepgram Aura (`POST /v1/speak`) behind the TTS engine protocol, streamed per sentence."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import numpy as np
import numpy.typing as npt

from switchboard_api.pipeline import TtsSpec
from switchboard_api.serving import DEEPGRAM_URL
from switchboard_serve.remote import Provider, RemoteError, stream_items
from switchboard_serve.secrets import api_key
from switchboard_wire.audio import pcm16_to_float

AURA_SAMPLE_RATE = 24_000
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


class AuraError(RemoteError):
    """Deepgram Aura refused or failed a request."""


def sentences(text: str) -> list[str]:
    """Split at sentence punctuation followed by whitespace; never returns empty pieces."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece.strip()]


class DeepgramAuraEngine:
    """One request per sentence, so the first sentence plays while the next is synthesised."""

    def __init__(self, spec: TtsSpec, provider: Provider | None = None) -> None:
        if spec.api_key_secret_ref is None:
            raise ValueError("engine deepgram-aura needs apiKeySecretRef")
        if spec.speed != 1.0:
            raise ValueError("engine deepgram-aura does not support speed other than 1.0")
        self._voice = spec.voice
        self._provider = provider or Provider(DEEPGRAM_URL)
        self._headers = {"Authorization": f"Token {api_key(spec.api_key_secret_ref)}"}

    @property
    def sample_rate(self) -> int:
        """Aura's linear16 output rate as requested."""
        return AURA_SAMPLE_RATE

    def synthesize(self, text: str) -> Iterator[npt.NDArray[np.float32]]:
        """Yield audio as it streams in, sentence after sentence."""
        for sentence in sentences(text):
            request = {
                "method": "POST",
                "url": self._provider.url("/v1/speak"),
                "params": {
                    "model": self._voice,
                    "encoding": "linear16",
                    "sample_rate": str(AURA_SAMPLE_RATE),
                    "container": "none",
                },
                "json": {"text": sentence},
                "headers": self._headers,
                "timeout": self._provider.timeout,
            }
            client, policy = self._provider.client, self._provider.policy
            yield from stream_items(client, request, _pcm_chunks, policy, AuraError)


def _pcm_chunks(response: httpx.Response) -> Iterator[npt.NDArray[np.float32]]:
    """Whole PCM16 samples from a byte stream whose chunks may split a sample."""
    carry = b""
    for chunk in response.iter_bytes():
        data = carry + chunk
        whole = len(data) - len(data) % 2
        carry = data[whole:]
        if whole:
            yield pcm16_to_float(data[:whole])
