"""The model plane over its HTTP API: partial transcription, SSE chat, chunked speech.

Every request has a timeout. Transient failures (connection errors, 429/5xx) are retried with
backoff only before the first byte of output reaches the call, so nothing is heard twice.
"""

from __future__ import annotations

import asyncio
import io
import json
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from switchboard_gateway.backends.base import (
    BackendError,
    PartialText,
    ReplyDone,
    ReplyEvent,
    ReplyText,
    ToolRequest,
)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def wav_bytes(pcm16: bytes, sample_rate: int) -> bytes:
    """Mono PCM16 wrapped in a WAV header."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm16)
    return buffer.getvalue()


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
        max_retries: int = 2,
        backoff_s: float = 0.1,
    ) -> None:
        self._models = {"asr": asr, "llm": llm, "tts": tts}
        self._sampling = {"max_tokens": max_tokens, "temperature": temperature}
        self._client = client or httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._max_retries, self._backoff_s = max_retries, backoff_s

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _retrying(self, attempt: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        for number in range(self._max_retries + 1):
            try:
                response = await attempt()
            except httpx.TransportError as error:
                if number >= self._max_retries:
                    raise BackendError(f"model plane unreachable: {error}") from error
            else:
                if response.status_code not in RETRYABLE_STATUS or number >= self._max_retries:
                    return response
                await response.aclose()
            await asyncio.sleep(self._backoff_s * 2**number)
        raise AssertionError("unreachable")

    async def _open(self, request: httpx.Request) -> httpx.Response:
        """Send `request` (retrying transient failures), returning the unread response."""
        response = await self._retrying(lambda: self._client.send(request, stream=True))
        if response.status_code >= 400:
            detail = (await response.aread()).decode(errors="replace")[:300]
            await response.aclose()
            raise BackendError(f"{request.url.path} answered {response.status_code}: {detail}")
        return response

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """One partial (or, with `final`, the last) pass over the utterance so far."""
        data = {"final": "true" if final else "false"}
        if state:
            data["state"] = state
        if self._models["asr"]:
            data["model"] = self._models["asr"]
        files = {"file": ("utterance.wav", wav_bytes(pcm16, sample_rate), "audio/wav")}
        response = await self._open(
            self._client.build_request(
                "POST", "/v1/audio/transcriptions/partial", data=data, files=files
            )
        )
        try:
            body = json.loads(await response.aread())
        finally:
            await response.aclose()
        return PartialText(body["text"], body["stable"], body["final"], body["state"])

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
        try:
            async for event in _chat_events(response.aiter_lines()):
                yield event
        finally:
            await response.aclose()

    async def speak(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Stream PCM16 speech; chunks always hold whole samples."""
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
        finally:
            await response.aclose()


async def _chat_events(lines: AsyncIterator[str]) -> AsyncIterator[ReplyEvent]:
    calls: dict[int, dict[str, str]] = {}
    reason = "stop"
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            break
        try:
            choice = json.loads(data)["choices"][0]
        except (ValueError, KeyError, IndexError) as error:
            raise BackendError(f"malformed chat stream chunk: {error}") from None
        delta = choice.get("delta") or {}
        if delta.get("content"):
            yield ReplyText(delta["content"])
        for piece in delta.get("tool_calls") or []:
            call = calls.setdefault(piece.get("index", 0), {"id": "", "name": "", "arguments": ""})
            function = piece.get("function") or {}
            call["id"] = piece.get("id") or call["id"]
            call["name"] = function.get("name") or call["name"]
            call["arguments"] += function.get("arguments") or ""
        reason = choice.get("finish_reason") or reason
    for index in sorted(calls):
        call = calls[index]
        yield ToolRequest(call["id"] or f"call_{index}", call["name"], call["arguments"])
    yield ReplyDone("tool_calls" if calls else reason)
