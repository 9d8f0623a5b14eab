"""Chat in OpenAI's shape: the messages a model is asked with, and the events of its reply.

The gateway sends `ChatMessage`s to the model plane, which sends them on to an engine or a
provider; a reply comes back as a stream of `ReplyEvent`s: text as it is generated, then any tool
calls whole, then exactly one `ReplyDone`. Every LLM engine yields these events, the model
plane's HTTP API encodes them (`completions`), and every client decodes them (`sse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict


class FunctionCall(TypedDict):
    """The function part of an OpenAI tool call."""

    name: str
    arguments: str


class ToolCallMessage(TypedDict):
    """An OpenAI `tool_calls[]` entry of an assistant message."""

    id: str
    type: Literal["function"]
    function: FunctionCall


class ChatMessage(TypedDict):
    """An OpenAI chat message (`system`, `user`, `assistant` or `tool`)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None
    tool_calls: NotRequired[list[ToolCallMessage]]
    tool_call_id: NotRequired[str]
    name: NotRequired[str]


#: Why a completion ended, as OpenAI names it. `tool_calls` whenever the reply holds tool calls.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True, slots=True)
class ReplyText:
    """The next piece of the reply's text, as the model streams it."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """The model asks for a tool call (OpenAI format: `arguments` is JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The end of one completion, and how many tokens it generated (0 when unknown)."""

    reason: FinishReason
    completion_tokens: int = 0


ReplyEvent = ReplyText | ToolRequest | ReplyDone


def finish_reason(reported: object, *, tool_calls: bool) -> FinishReason:
    """The reason a completion ended, from what a model or provider reported.

    A reply with tool calls ended for them; `length` and `content_filter` are kept; anything else
    (`stop`, `eos`, nothing at all) is a normal `stop`.
    """
    if tool_calls:
        return "tool_calls"
    if reported == "length":
        return "length"
    if reported == "content_filter":
        return "content_filter"
    return "stop"
