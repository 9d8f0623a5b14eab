"""Messages in, events out: the contract every LLM engine keeps.

Messages and events are the wire's (`switchboard_wire.chat`): what an engine yields is what the
model plane's HTTP API streams and what every client decodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from switchboard_wire.chat import ChatMessage, ReplyEvent


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call; `parameters` is a JSON schema of type object."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


class LlmEngine(Protocol):
    """Streams one completion. Blocking iterator: consume it off the event loop."""

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition] = (),
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[ReplyEvent]:
        """Yield reply text or tool calls, then one `ReplyDone`."""
        ...
