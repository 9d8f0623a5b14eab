"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, a vLLM server, another model plane).

Streams over SSE. Retries with exponential backoff only before the first token reaches the
caller: a retry after that would make the agent say things twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from switchboard_api.pipeline import LlmSpec
from switchboard_serve.llm.base import (
    ChatMessage,
    Finished,
    LlmEvent,
    TextDelta,
    ToolCall,
    ToolDefinition,
)
from switchboard_serve.remote import RemoteError, RetryPolicy, stream_items
from switchboard_serve.secrets import api_key


class RemoteLlmError(RemoteError):
    """The endpoint refused or failed the request (after any retries allowed)."""


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAICompatibleEngine:
    """Streams chat completions from an OpenAI-compatible HTTP endpoint."""

    def __init__(
        self,
        spec: LlmSpec,
        client: httpx.Client | None = None,
        max_retries: int = 2,
        backoff_s: float = 0.2,
    ) -> None:
        if spec.endpoint is None:
            raise ValueError("provider openai-compatible needs an endpoint")
        self._spec = spec
        self._url = spec.endpoint.url.rstrip("/") + "/chat/completions"
        self._timeout = httpx.Timeout(spec.endpoint.timeout_ms / 1000)
        self._client = client or httpx.Client()
        self._policy = RetryPolicy(max_retries, backoff_s)
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
    ) -> Iterator[LlmEvent]:
        """Stream one completion; retry transient failures until the first token only."""
        request = {
            "method": "POST",
            "url": self._url,
            "json": self._body(messages, tools, max_tokens, temperature),
            "headers": self._headers,
            "timeout": self._timeout,
        }
        yield from stream_items(
            self._client,
            request,
            lambda response: self._events(response.iter_lines()),
            self._policy,
            RemoteLlmError,
        )

    @staticmethod
    def _events(lines: Iterator[str]) -> Iterator[LlmEvent]:
        calls: dict[int, _PendingCall] = {}
        finish, tokens = "stop", 0
        for line in lines:
            if not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                break
            choice = json.loads(data)["choices"][0]
            delta = choice.get("delta") or {}
            if delta.get("content"):
                tokens += 1
                yield TextDelta(delta["content"])
            for piece in delta.get("tool_calls") or []:
                call = calls.setdefault(piece.get("index", 0), _PendingCall())
                function = piece.get("function") or {}
                call.id = piece.get("id") or call.id
                call.name = function.get("name") or call.name
                call.arguments.append(function.get("arguments") or "")
            finish = choice.get("finish_reason") or finish
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(call.id or f"call_{index}", call.name, "".join(call.arguments))
        if calls:
            yield Finished("tool_calls", tokens)
        else:
            yield Finished("length" if finish == "length" else "stop", tokens)
