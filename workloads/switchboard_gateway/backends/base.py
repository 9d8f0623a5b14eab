"""What the conversation loop needs from a model backend, in the gateway's own terms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class BackendError(RuntimeError):
    """A model backend failed a request (after the retries allowed before any output)."""


@dataclass(frozen=True, slots=True)
class PartialText:
    """The caller's utterance so far: text, its stable prefix, and the state for the next pass."""

    text: str
    stable: str
    final: bool
    state: str


@dataclass(frozen=True, slots=True)
class ReplyText:
    """A piece of the agent's reply as the LLM streams it."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """The LLM asks for a tool call (OpenAI format: arguments are a JSON string)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The end of one LLM completion."""

    reason: str


ReplyEvent = ReplyText | ToolRequest | ReplyDone


class Transcriber(Protocol):
    """ASR per utterance: partial passes while the caller speaks, a final pass at its end."""

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """Transcribe the utterance so far (`pcm16` from its start)."""
        ...


class ChatModel(Protocol):
    """The LLM per turn, streamed."""

    def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        """Stream the agent's next reply."""
        ...


class Synthesizer(Protocol):
    """TTS per sentence or clause, streamed."""

    def speak(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Stream `text` as PCM16 at `sample_rate`."""
        ...


class ModelBackend(Transcriber, ChatModel, Synthesizer, Protocol):
    """All three stages behind one client (the model plane's HTTP API)."""
