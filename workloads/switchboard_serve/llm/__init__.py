"""Language model engines behind one protocol (OpenAI chat format in, typed events out)."""

from switchboard_serve.llm.base import (
    ChatMessage,
    Finished,
    LlmEngine,
    LlmEvent,
    TextDelta,
    ToolCall,
    ToolDefinition,
)

__all__ = [
    "ChatMessage",
    "Finished",
    "LlmEngine",
    "LlmEvent",
    "TextDelta",
    "ToolCall",
    "ToolDefinition",
]
