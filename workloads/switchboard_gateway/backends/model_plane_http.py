"""The model plane over its HTTP API: partial transcription, SSE chat, chunked speech.

Every request has a timeout. Transient failures (`switchboard_wire.retry`: connection errors,
"not now" statuses) are retried with backoff only before the first byte of output reaches the
call, so nothing is heard twice. Chat streams are decoded by the wire's one decoder: a malformed
chunk, or a stream that breaks off midway, fails the reply with a `BackendError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from switchboard_gateway.backends.base import BackendError
from switchboard_gateway.backends.model_load import ModelLoad, Work
from switchboard_wire.audio import encode_wav
from switchboard_wire.chat import ReplyEvent
from switchboard_wire.retry import DEFAULT_RETRY, RetryPolicy
from switchboard_wire.sse import ChatStreamDecoder, MalformedChunkError
from switchboard_wire.transcription import PARTIAL_TRANSCRIPTION_PATH, PartialRequest, PartialText


class ModelPlaneHttp:
    """One agent's models (by deployment or model name) behind the model plane's HTTP API.

    `max_tokens` and `temperature` are the agent's: deployments are shared between agents.
    `load`: the gateway's model work in flight, shared by its agents (partial passes wait for
    the work callers wait for; `model_load`).
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
        load: ModelLoad | None = None,
    ) -> None:
        self._load = load or ModelLoad()
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

    def partial_welcome(self) -> bool:
        """Whether the model plane has room for a partial pass now (`ModelLoad`)."""
        return self._load.partial_welcome()

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """One partial (or, with `final`, the last) pass over the utterance so far."""
        with self._load.running(Work.WAITED_FOR if final else Work.PARTIAL):
            return await self._transcribe(pcm16, sample_rate, state, final=final)

    async def _transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
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
    ) -> AsyncGenerator[ReplyEvent, None]:
        """Stream a chat completion (OpenAI SSE) as reply events."""
        with self._load.running(Work.WAITED_FOR) as work:
            async with contextlib.aclosing(self._reply(messages, tools)) as events:
                async for event in events:
                    self._load.change(work, Work.STREAMING)
                    yield event

    async def _reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncGenerator[ReplyEvent, None]:
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
    ) -> AsyncGenerator[bytes, None]:
        """Stream PCM16 speech; chunks always hold whole samples (`phrase` changes nothing)."""
        with self._load.running(Work.WAITED_FOR) as work:
            async with contextlib.aclosing(self._speak(text, sample_rate)) as chunks:
                async for chunk in chunks:
                    self._load.change(work, Work.STREAMING)
                    yield chunk

    async def _speak(self, text: str, sample_rate: int) -> AsyncGenerator[bytes, None]:
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
