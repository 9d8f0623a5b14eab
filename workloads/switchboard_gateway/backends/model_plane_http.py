"""The model plane over its HTTP API: partial transcription, SSE chat, chunked speech.

Every request has a timeout. Transient failures (`switchboard_wire.retry`: connection errors,
"not now" statuses) are retried with backoff only before the first byte of output reaches the
call, so nothing is heard twice. Chat streams are decoded by the wire's one decoder: a malformed
chunk, or a stream that breaks off midway, fails the reply with a `BackendError`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from switchboard_gateway.backends.base import BackendError
from switchboard_wire.audio import encode_wav
from switchboard_wire.chat import ReplyEvent
from switchboard_wire.retry import DEFAULT_RETRY, RetryPolicy
from switchboard_wire.sse import ChatStreamDecoder, MalformedChunkError
from switchboard_wire.transcription import PARTIAL_TRANSCRIPTION_PATH, PartialRequest, PartialText


class ModelPlaneHttp:
    """One agent's models (by deployment or model name) behind the model plane's HTTP API.

    `max_tokens` and `temperature` are the agent's: deployments are shared between agents.
    """

    def __init__(
        self,
        base_url: str,
        *,
        asr: str | None = None,
        llm: str | None = None,
        tts: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._models = {"asr": asr, "llm": llm, "tts": tts}
        self._sampling = {"max_tokens": max_tokens, "temperature": temperature}
        self._client = client or httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._retry = retry

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _retrying(self, attempt: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        for number in range(self._retry.attempts):
            try:
                response = await attempt()
            except httpx.TransportError as error:
                if not self._retry.retries(number, None):
                    raise BackendError(f"model plane unreachable: {error}") from error
            else:
                if not self._retry.retries(number, response.status_code):
                    return response
                await response.aclose()
            await asyncio.sleep(self._retry.delay(number))
        raise AssertionError("unreachable")

    async def _open(self, request: httpx.Request) -> httpx.Response:
        """Send `request` (retrying transient failures), returning the unread response."""
        response = await self._retrying(lambda: self._client.send(request, stream=True))
        if response.status_code >= 400:
            try:
                detail = (await response.aread()).decode(errors="replace")[:300]
            except httpx.HTTPError as error:
                detail = f"(body unreadable: {type(error).__name__})"
            finally:
                await response.aclose()
            raise BackendError(f"{request.url.path} answered {response.status_code}: {detail}")
        return response

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """One partial (or, with `final`, the last) pass over the utterance so far."""
        form = PartialRequest(final=final, state=state, model=self._models["asr"]).to_form()
        files = {"file": ("utterance.wav", encode_wav(pcm16, sample_rate), "audio/wav")}
        response = await self._open(
            self._client.build_request("POST", PARTIAL_TRANSCRIPTION_PATH, data=form, files=files)
        )
        try:
            return PartialText.from_body(json.loads(await response.aread()))
        except ValueError as error:
            raise BackendError(f"malformed partial transcription: {error}") from None
        except httpx.HTTPError as error:
            raise BackendError(f"transcription broke off: {type(error).__name__}") from None
        finally:
            await response.aclose()

    async def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        """Stream a chat completion (OpenAI SSE) as reply events."""
        body: dict[str, Any] = {"messages": list(messages), "stream": True}
        body.update({k: v for k, v in self._sampling.items() if v is not None})
        if tools:
            body["tools"] = [{"type": "function", "function": t} for t in tools]
        if self._models["llm"]:
            body["model"] = self._models["llm"]
        response = await self._open(
            self._client.build_request("POST", "/v1/chat/completions", json=body)
        )
        decoder = ChatStreamDecoder()
        try:
            async for text in response.aiter_text():
                for event in decoder.feed(text):
                    yield event
                if decoder.done:
                    break
            for event in decoder.finish():
                yield event
        except MalformedChunkError as error:
            raise BackendError(str(error)) from None
        except httpx.HTTPError as error:  # the stream broke off (or timed out) midway
            raise BackendError(f"chat stream broke off: {type(error).__name__}") from None
        finally:
            await response.aclose()

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        """Stream PCM16 speech; chunks always hold whole samples (`phrase` changes nothing)."""
        body: dict[str, Any] = {"input": text, "response_format": "pcm", "sample_rate": sample_rate}
        if self._models["tts"]:
            body["voice"] = self._models["tts"]
        response = await self._open(
            self._client.build_request("POST", "/v1/audio/speech", json=body)
        )
        carry = b""
        try:
            async for chunk in response.aiter_bytes():
                data = carry + chunk
                whole = len(data) - len(data) % 2
                carry = data[whole:]
                if whole:
                    yield data[:whole]
        except httpx.HTTPError as error:  # the stream broke off (or timed out) midway
            raise BackendError(f"speech stream broke off: {type(error).__name__}") from None
        finally:
            await response.aclose()
