"""Deepgram pre-recorded transcription (`POST /v1/listen`) behind the ASR engine protocol.

Each utterance is one request with raw 16 kHz PCM16; no SDK, so timeouts and retries are ours.
Deepgram's live WebSocket API is a transport concern: the gateway streams to it directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from switchboard_api.pipeline import AsrSpec
from switchboard_api.serving import DEEPGRAM_URL
from switchboard_serve.asr.base import ASR_SAMPLE_RATE, Transcript, Word
from switchboard_serve.remote import Provider, RemoteError, stream_items
from switchboard_serve.secrets import api_key
from switchboard_wire.audio import float_to_pcm16


class DeepgramError(RemoteError):
    """Deepgram refused or failed a request."""


def parse_listen_response(body: dict[str, Any], audio_seconds: float, language: str) -> Transcript:
    """Our transcript from a `/v1/listen` response (first channel, best alternative)."""
    try:
        channel = body["results"]["channels"][0]
        best = channel["alternatives"][0]
    except (KeyError, IndexError, TypeError) as error:
        raise DeepgramError(f"unexpected response shape: missing {error}") from None
    words = tuple(
        Word(
            str(w.get("punctuated_word") or w["word"]),
            round(float(w["start"]), 3),
            round(float(w["end"]), 3),
            round(float(w.get("confidence", 0.0)), 4),
        )
        for w in best.get("words") or []
    )
    return Transcript(
        text=str(best.get("transcript", "")).strip(),
        language=str(channel.get("detected_language") or language),
        words=words,
        confidence=round(float(best.get("confidence", 0.0)), 4),
        audio_seconds=round(audio_seconds, 3),
    )


class DeepgramAsrEngine:
    """One utterance per request; `spec.model` is a Deepgram model such as `nova-3`."""

    def __init__(self, spec: AsrSpec, provider: Provider | None = None) -> None:
        if spec.api_key_secret_ref is None:
            raise ValueError("engine deepgram needs apiKeySecretRef")
        self._spec = spec
        self._provider = provider or Provider(DEEPGRAM_URL)
        self._headers = {
            "Authorization": f"Token {api_key(spec.api_key_secret_ref)}",
            "Content-Type": "application/octet-stream",
        }

    def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        *,
        language: str | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        """Transcribe one utterance. `prompt` is not sent: Deepgram has no free-text prompt."""
        language = language or self._spec.language or "en"
        params = {
            "model": self._spec.model,
            "language": language,
            "punctuate": "true",
            "smart_format": "true",
            "encoding": "linear16",
            "sample_rate": str(ASR_SAMPLE_RATE),
            "channels": "1",
        }
        request = {
            "method": "POST",
            "url": self._provider.url("/v1/listen"),
            "params": params,
            "content": float_to_pcm16(audio),
            "headers": self._headers,
            "timeout": self._provider.timeout,
        }

        def body(response: httpx.Response) -> Iterator[dict[str, Any]]:
            try:
                yield response.json() if response.read() else {}
            except ValueError as error:
                raise DeepgramError(f"response is not JSON: {error}") from None

        provider = self._provider
        (result,) = stream_items(provider.client, request, body, provider.policy, DeepgramError)
        return parse_listen_response(result, audio.size / ASR_SAMPLE_RATE, language)
