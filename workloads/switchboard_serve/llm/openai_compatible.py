"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, a vLLM server, another model plane).

Streams over SSE, decoded by the wire's one decoder (`switchboard_wire.sse`: a malformed chunk
fails the request). Retries transient failures only before the first token reaches the caller: a
retry after that would make the agent say things twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from switchboard_api.pipeline import LlmSpec
from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.remote import RemoteError, stream_items
from switchboard_serve.secrets import api_key
from switchboard_wire.chat import ChatMessage, ReplyEvent
from switchboard_wire.retry import DEFAULT_RETRY, RetryPolicy
from switchboard_wire.sse import ChatStreamDecoder, MalformedChunkError


class RemoteLlmError(RemoteError):
    """The endpoint refused or failed the request (after any retries allowed)."""


class OpenAICompatibleEngine:
    """Streams chat completions from an OpenAI-compatible HTTP endpoint."""

    def __init__(
        self, spec: LlmSpec, client: httpx.Client | None = None, retry: RetryPolicy = DEFAULT_RETRY
    ) -> None:
        if spec.endpoint is None:
            raise ValueError("provider openai-compatible needs an endpoint")
        self._spec = spec
        self._url = spec.endpoint.url.rstrip("/") + "/chat/completions"
        self._timeout = httpx.Timeout(spec.endpoint.timeout_ms / 1000)
        self._client = client or httpx.Client()
        self._retry = retry
        ref = spec.endpoint.api_key_secret_ref
        self._headers = {"Authorization": f"Bearer {api_key(ref)}"} if ref is not None else {}

    def _body(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        max_tokens: int | None,
        temperature: float | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._spec.model,
            "messages": list(messages),
            "stream": True,
            "max_tokens": max_tokens or self._spec.max_tokens,
            "temperature": self._spec.temperature if temperature is None else temperature,
        }
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in tools
            ]
        return body

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition] = (),
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[ReplyEvent]:
        """Stream one completion; retry transient failures until the first token only."""
        request = {
            "method": "POST",
            "url": self._url,
            "json": self._body(messages, tools, max_tokens, temperature),
            "headers": self._headers,
            "timeout": self._timeout,
        }
        yield from stream_items(self._client, request, _events, self._retry, RemoteLlmError)


def _events(response: httpx.Response) -> Iterator[ReplyEvent]:
    decoder = ChatStreamDecoder()
    try:
        for text in response.iter_text():
            yield from decoder.feed(text)
            if decoder.done:
                break
        yield from decoder.finish()
    except MalformedChunkError as error:
        raise RemoteLlmError(str(error)) from None
