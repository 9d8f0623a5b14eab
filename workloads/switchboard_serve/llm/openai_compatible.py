"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, a vLLM server, another model plane).

Streams over SSE. Retries with exponential backoff only before the first token reaches the
caller: a retry after that would make the agent say things twice.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from switchboard_api.common import secret_env_name
from switchboard_api.pipeline import LlmSpec
from switchboard_serve.llm.base import (
    ChatMessage,
    Finished,
    LlmEvent,
    TextDelta,
    ToolCall,
    ToolDefinition,
)

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class RemoteLlmError(RuntimeError):
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
        self._max_retries, self._backoff_s = max_retries, backoff_s
        ref = spec.endpoint.api_key_secret_ref
        key = os.environ.get(secret_env_name(ref)) if ref is not None else None
        if ref is not None and not key:
            raise RemoteLlmError(f"the API key is not set ({secret_env_name(ref)})")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

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
        body = self._body(messages, tools, max_tokens, temperature)
        for attempt in range(self._max_retries + 1):
            emitted = False
            try:
                with self._client.stream(
                    "POST", self._url, json=body, headers=self._headers, timeout=self._timeout
                ) as response:
                    if response.status_code >= 400:
                        detail = response.read().decode(errors="replace")[:300]
                        error = RemoteLlmError(
                            f"endpoint answered {response.status_code}: {detail}"
                        )
                        if response.status_code in RETRYABLE_STATUS and attempt < self._max_retries:
                            time.sleep(self._backoff_s * 2**attempt)
                            continue
                        raise error
                    for event in self._events(response.iter_lines()):
                        emitted = True
                        yield event
                    return
            except httpx.TransportError as error:
                if emitted or attempt >= self._max_retries:
                    raise RemoteLlmError(f"endpoint unreachable: {error}") from error
                time.sleep(self._backoff_s * 2**attempt)

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
