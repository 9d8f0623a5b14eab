"""Serve deployment classes: plain classes holding one shared engine each.

`app.build_app` applies `serve.deployment(...)` with options computed from the config, so nothing
here fixes resources at import time. Engine calls are blocking and run in worker threads; each
replica's event loop stays free for health checks and other requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_api.pipeline import AsrSpec, LlmSpec, TtsSpec
from switchboard_api.serving import (
    AsrDeployment,
    EmbedDeployment,
    LlmDeployment,
    TtsDeployment,
    hosted_remotely,
)
from switchboard_serve.asr.base import ASR_SAMPLE_RATE
from switchboard_serve.asr.partial import PartialState, PartialTranscript, transcribe_partial
from switchboard_serve.engines import make_asr, make_embedder, make_llm, make_tts
from switchboard_serve.limits import (
    EMBED_MAX_INPUT_CHARACTERS,
    EMBED_MAX_INPUTS,
    EMBED_MAX_TOKENS,
    ApiError,
)
from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.llm.coalesce import coalesced
from switchboard_serve.threads import iterate_in_thread
from switchboard_wire.audio import float_to_pcm16, mulaw_encode, resample
from switchboard_wire.chat import ChatMessage, ReplyEvent

ModelSpec = AsrSpec | LlmSpec | TtsSpec | EmbeddingSpec
HEALTH_PROBE_INTERVAL_S = 60.0
#: Sample rates a client may send or ask for; anything else is refused rather than guessed at.
SUPPORTED_RATES = (8000, 16000, 22050, 24000, 44100, 48000)


class _Throttle:
    """Lets an engine health probe run at most once per interval.

    Engines hosted by a provider are never probed: a paid request per replica per minute proves
    little, and the provider's outage should fail calls, not restart replicas.
    """

    def __init__(self, spec: ModelSpec, interval_s: float = HEALTH_PROBE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last = -interval_s
        self._remote = hosted_remotely(spec)

    def due(self) -> bool:
        """Whether the probe should run now."""
        return not self._remote and time.monotonic() - self._last >= self._interval_s

    def ran(self) -> None:
        """Record a successful probe."""
        self._last = time.monotonic()


class AsrServer:
    """One ASR model, shared by every call of every agent that uses it."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        self.config = AsrDeployment.model_validate(deployment)
        self._engine = make_asr(self.config.spec)
        self._probe = _Throttle(self.config.spec)

    def _check_length(self, audio: npt.NDArray[np.float32]) -> None:
        limit = self.config.spec.max_utterance_seconds
        if audio.size > limit * ASR_SAMPLE_RATE:
            message = f"audio is {audio.size / ASR_SAMPLE_RATE:.1f} s, over the {limit} s limit"
            raise ApiError(413, message, "audio_too_long", "file")

    async def transcribe(
        self, audio: npt.NDArray[np.float32], language: str | None = None
    ) -> dict[str, Any]:
        """Transcribe one utterance (mono float32 at 16 kHz)."""
        self._check_length(audio)
        transcript = await asyncio.to_thread(self._engine.transcribe, audio, language=language)
        return asdict(transcript)

    async def transcribe_partial(
        self,
        audio: npt.NDArray[np.float32],
        state: PartialState | None = None,
        language: str | None = None,
        final: bool = False,
    ) -> PartialTranscript:
        """Text of the utterance so far; pass back the returned `state` with the grown buffer."""
        self._check_length(audio)
        return await asyncio.to_thread(
            transcribe_partial, self._engine, audio, state, language=language, final=final
        )

    async def check_health(self) -> None:
        """Exercise the engine on a short silence at most once a minute."""
        if not self._probe.due():
            return
        await asyncio.to_thread(self._engine.transcribe, np.zeros(ASR_SAMPLE_RATE // 4, np.float32))
        self._probe.ran()


class LlmServer:
    """One LLM, shared across conversations; streams typed events."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        self.config = LlmDeployment.model_validate(deployment)
        self._engine = make_llm(self.config.spec)
        self._probe = _Throttle(self.config.spec)

    async def stream_chat(
        self,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[ReplyEvent]:
        """Stream the events of one completion."""
        definitions = [ToolDefinition(**tool) for tool in tools or []]
        events = coalesced(
            iterate_in_thread(
                lambda: self._engine.stream_chat(
                    messages, definitions, max_tokens=max_tokens, temperature=temperature
                )
            )
        )
        async for event in events:
            yield event
        # A completion that ran is proof of health: the probe, whose prompt would replace a
        # call's in llama.cpp's live context, then waits for an idle minute.
        self._probe.ran()

    async def check_health(self) -> None:
        """Generate one token at most once a minute, and only in a minute without completions."""
        if not self._probe.due():
            return
        probe: list[ChatMessage] = [{"role": "user", "content": "Hi"}]
        async for _ in self.stream_chat(probe, max_tokens=1):
            pass
        self._probe.ran()


class TtsServer:
    """One voice, shared across calls; streams audio sentence by sentence."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        self.config = TtsDeployment.model_validate(deployment)
        self._engine = make_tts(self.config.spec)
        self._probe = _Throttle(self.config.spec)

    async def synthesize(
        self, text: str, sample_rate: int, encoding: str = "pcm16"
    ) -> AsyncIterator[bytes]:
        """Stream `text` as PCM16 (little-endian) or G.711 μ-law at `sample_rate`."""
        if not text.strip():
            raise ApiError(400, "input holds no text", "empty_input", "input")
        limit = self.config.spec.max_characters
        if len(text) > limit:
            message = f"input has {len(text)} characters, over the {limit} limit"
            raise ApiError(400, message, "input_too_long", "input")
        if encoding not in ("pcm16", "mulaw"):
            message = f"unsupported encoding {encoding!r}"
            raise ApiError(400, message, "invalid_request", "response_format")
        if sample_rate not in SUPPORTED_RATES:
            message = f"unsupported sample_rate {sample_rate}; supported: {SUPPORTED_RATES}"
            raise ApiError(400, message, "unsupported_sample_rate", "sample_rate")
        async for chunk in iterate_in_thread(lambda: self._engine.synthesize(text)):
            audio = resample(chunk, self._engine.sample_rate, sample_rate)
            yield mulaw_encode(audio) if encoding == "mulaw" else float_to_pcm16(audio)

    async def check_health(self) -> None:
        """Synthesise one word at most once a minute."""
        if not self._probe.due():
            return
        async for _ in self.synthesize("ok", self._engine.sample_rate):
            pass
        self._probe.ran()


class EmbedServer:
    """One embedding model, shared by indexing jobs and knowledge-base searches."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        self.config = EmbedDeployment.model_validate(deployment)
        self._engine = make_embedder(self.config.spec)
        self._probe = _Throttle(self.config.spec)

    async def embed(self, texts: list[str]) -> dict[str, Any]:
        """Unit-length vectors (float32 rows) for `texts`, and how many tokens the model saw.

        Refused (`ApiError`) before the model runs when over a limit of `limits`: the word
        pieces are counted first (cheap next to the model), so a request that would hold the
        replica for long never reaches it.
        """
        if not texts or any(not text.strip() for text in texts):
            raise ApiError(400, "inputs must not be empty", "empty_input", "input")
        if len(texts) > EMBED_MAX_INPUTS:
            message = f"{len(texts)} inputs, over the {EMBED_MAX_INPUTS} limit"
            raise ApiError(400, message, "too_many_inputs", "input")
        longest = max(len(t) for t in texts)
        if longest > EMBED_MAX_INPUT_CHARACTERS:
            limit = EMBED_MAX_INPUT_CHARACTERS
            message = f"an input has {longest} characters, over the {limit} limit"
            raise ApiError(400, message, "input_too_long", "input")
        tokens = await asyncio.to_thread(self._engine.count_tokens, texts)
        if tokens > EMBED_MAX_TOKENS:
            message = f"the inputs are {tokens} tokens, over the {EMBED_MAX_TOKENS} per request"
            raise ApiError(413, message, "too_many_tokens", "input")
        vectors = await asyncio.to_thread(self._engine.embed, texts)
        return {"vectors": vectors, "tokens": tokens, "dimensions": self._engine.dimensions}

    async def check_health(self) -> None:
        """Embed one word at most once a minute."""
        if not self._probe.due():
            return
        await self.embed(["ok"])
        self._probe.ran()
