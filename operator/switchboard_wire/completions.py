"""A reply's events as OpenAI chat completions: the model plane's side of `sse`.

Streamed, a reply is a role chunk, a chunk per event (tool calls numbered by `index`), a last
chunk with the finish reason and usage, then `data: [DONE]`; whole, it is one `chat.completion`
object. `sse.ChatStreamDecoder` turns the stream back into the same events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolCallMessage, ToolRequest
from switchboard_wire.sse import DONE


def sse_event(payload: dict[str, Any] | str) -> bytes:
    """One server-sent event whose data is `payload` (JSON, or a literal like `[DONE]`)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def _tool_call(event: ToolRequest) -> ToolCallMessage:
    return {
        "id": event.id,
        "type": "function",
        "function": {"name": event.name, "arguments": event.arguments},
    }


class CompletionEncoder:
    """The OpenAI shape of one completion's events."""

    def __init__(self, completion_id: str, model: str) -> None:
        self._id, self._model = completion_id, model
        self._tool_calls = 0

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def start(self) -> bytes:
        """The first event of a stream: the assistant's role."""
        return sse_event(self._chunk({"role": "assistant"}, None))

    def event(self, event: ReplyEvent) -> bytes:
        """The stream event of one reply event (`ReplyDone` also carries usage)."""
        if isinstance(event, ReplyText):
            return sse_event(self._chunk({"content": event.text}, None))
        if isinstance(event, ToolRequest):
            call = {"index": self._tool_calls, **_tool_call(event)}
            self._tool_calls += 1
            return sse_event(self._chunk({"tool_calls": [call]}, None))
        chunk = self._chunk({}, event.reason)
        chunk["usage"] = {"completion_tokens": event.completion_tokens}
        return sse_event(chunk)

    @staticmethod
    def end() -> bytes:
        """The last event of a stream."""
        return sse_event(DONE)

    def whole(self, events: Iterable[ReplyEvent]) -> dict[str, Any]:
        """A non-streamed `chat.completion` holding all of a reply's events."""
        text, calls, done = "", [], ReplyDone("stop")
        for event in events:
            if isinstance(event, ReplyText):
                text += event.text
            elif isinstance(event, ToolRequest):
                calls.append(_tool_call(event))
            else:
                done = event
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = calls
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model,
            "choices": [{"index": 0, "message": message, "finish_reason": done.reason}],
            "usage": {"completion_tokens": done.completion_tokens},
        }
