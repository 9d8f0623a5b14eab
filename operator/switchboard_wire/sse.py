"""The one decoder of OpenAI chat-completion streams (server-sent events), pure and incremental.

Text goes in as it arrives, in pieces of any size (a piece may end inside a line, or between the
carriage return and the line feed of one line end); `ReplyEvent`s come out: `ReplyText` as soon
as its chunk is complete, then, from `finish()`, each tool call whole (its argument fragments
joined, ordered by index) and one `ReplyDone`. `data: [DONE]` ends the stream; whatever follows
it is ignored. A stream that stops without `[DONE]` ends at `finish()` with what it delivered.

**Malformed chunks raise `MalformedChunkError`, naming the chunk; they are never skipped.** A
chunk is malformed when its data is not JSON, not an object, has no `choices` list, has a field
of the wrong type (`content` that is not text, a tool call that is not an object, ...), or is an
`error` object a provider sends mid-stream. Skipping one could drop words of the reply or a
fragment of a tool call's arguments, so the agent would say or do what the model did not; a
malformed stream is a failed request. Callers turn the error into their own failure type and do
not retry it: output may already have reached the caller. Missing optional fields (`delta`,
`content`, `finish_reason`, a tool call's `id`) are not malformed; `choices: []` (a usage-only
chunk) is not either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolRequest, finish_reason

DONE = "[DONE]"
_LINE_END = re.compile(r"\r\n|\r|\n")


class MalformedChunkError(ValueError):
    """A `data:` payload that is not an OpenAI chat-completion chunk."""

    def __init__(self, chunk: str, problem: str) -> None:
        self.chunk, self.problem = chunk, problem
        super().__init__(f"malformed chat stream chunk ({problem}): {chunk[:200]!r}")


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call; fragments with the same index belong to one call."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One chunk of a chat-completion stream (its first choice; Switchboard asks for one)."""

    content: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    #: `usage.completion_tokens` when the chunk reports it.
    completion_tokens: int | None = None


class SseParser:
    """Server-sent-events framing: text in pieces → the data of each complete event.

    Data lines of one event are joined with newlines; comments and the `event`, `id` and `retry`
    fields are ignored (a chat stream uses none of them).
    """

    def __init__(self) -> None:
        self._line = ""
        self._data: list[str] = []
        self._after_cr = False

    def feed(self, text: str) -> list[str]:
        """The data of every event that `text` completes."""
        if self._after_cr and text.startswith("\n"):
            text = text[1:]  # the "\n" of a "\r\n" split across two pieces
        if text:
            self._after_cr = text.endswith("\r")
        lines = _LINE_END.split(self._line + text)
        self._line = lines.pop()
        events = []
        for line in lines:
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
                continue
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value.removeprefix(" "))
        return events

    def close(self) -> list[str]:
        """The last event, when the stream ended without the blank line that completes it."""
        return self.feed("\n\n")


def parse_chunk(data: str) -> ChatChunk:
    """One chunk from the data of one event; raises `MalformedChunkError`."""
    try:
        body = json.loads(data)
    except ValueError as error:
        raise MalformedChunkError(data, "not JSON") from error
    if not isinstance(body, dict):
        raise MalformedChunkError(data, "not a JSON object")
    if "error" in body:
        reported = body["error"]
        message = reported.get("message") if isinstance(reported, dict) else reported
        raise MalformedChunkError(data, f"the stream reported an error: {message}")
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise MalformedChunkError(data, "no `choices` list")
    usage = body.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None
    if not choices:
        return ChatChunk(completion_tokens=tokens)
    choice = _object(data, choices[0], "choice")
    delta = _object(data, _or_empty(choice.get("delta")), "delta")
    content = _text(data, delta.get("content"), "content")
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise MalformedChunkError(data, "`finish_reason` is not text")
    pieces = delta.get("tool_calls")
    pieces = [] if pieces is None else pieces
    if not isinstance(pieces, list):
        raise MalformedChunkError(data, "`tool_calls` is not a list")
    calls = tuple(_tool_call(data, piece) for piece in pieces)
    return ChatChunk(content, calls, finish, tokens)


def _or_empty(value: object) -> object:
    return {} if value is None else value


def _object(data: str, value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedChunkError(data, f"the {what} is not an object")
    return value


def _text(data: str, value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedChunkError(data, f"`{what}` is not text")
    return value


def _tool_call(data: str, piece: object) -> ToolCallDelta:
    call = _object(data, piece, "tool call")
    index = call.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool):
        raise MalformedChunkError(data, "a tool call's `index` is not an integer")
    function = _object(data, _or_empty(call.get("function")), "tool call's function")
    return ToolCallDelta(
        index,
        _text(data, call.get("id"), "id"),
        _text(data, function.get("name"), "name"),
        _text(data, function.get("arguments"), "arguments"),
    )


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChatStreamDecoder:
    """A chat-completion stream's text in, `ReplyEvent`s out (see the module's docstring)."""

    def __init__(self) -> None:
        self._sse = SseParser()
        self._calls: dict[int, _PendingCall] = {}
        self._reported: str | None = None
        self._texts = 0
        self._usage: int | None = None
        #: Whether `[DONE]` arrived: the caller may stop reading.
        self.done = False

    def feed(self, text: str) -> Iterator[ReplyEvent]:
        """The reply text that `text` completes (tool calls wait for `finish`).

        Chunks are decoded as the iterator is consumed: text before a malformed chunk comes out
        before the `MalformedChunkError`.
        """
        return iter(()) if self.done else self._decode(self._sse.feed(text))

    def finish(self) -> list[ReplyEvent]:
        """The rest of the reply once the stream has ended: tool calls, whole, then `ReplyDone`."""
        events = [] if self.done else list(self._decode(self._sse.close()))
        self.done = True
        for index in sorted(self._calls):
            call = self._calls[index]
            events.append(
                ToolRequest(call.id or f"call_{index}", call.name, "".join(call.arguments))
            )
        reason = finish_reason(self._reported, tool_calls=bool(self._calls))
        events.append(ReplyDone(reason, self._texts if self._usage is None else self._usage))
        return events

    def _decode(self, payloads: list[str]) -> Iterator[ReplyEvent]:
        for data in payloads:
            if data.strip() == DONE:
                self.done = True
                break
            chunk = parse_chunk(data)
            if chunk.content:
                self._texts += 1
                yield ReplyText(chunk.content)
            for delta in chunk.tool_calls:
                call = self._calls.setdefault(delta.index, _PendingCall())
                call.id = delta.id or call.id
                call.name = delta.name or call.name
                call.arguments.append(delta.arguments)
            self._reported = chunk.finish_reason or self._reported
            if chunk.completion_tokens is not None:
                self._usage = chunk.completion_tokens
