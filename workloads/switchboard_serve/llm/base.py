"""Messages in, events out: the contract every LLM engine keeps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Protocol, TypedDict


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


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call; `parameters` is a JSON schema of type object."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of the reply text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks to call a tool; `arguments` is JSON text valid for its schema."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The end of one completion."""

    reason: Literal["stop", "length", "tool_calls"]
    completion_tokens: int


LlmEvent = TextDelta | ToolCall | Finished


class LlmEngine(Protocol):
    """Streams one completion. Blocking iterator: consume it off the event loop."""

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition] = (),
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[LlmEvent]:
        """Yield text deltas or one tool call, then `Finished`."""
        ...
