"""What the conversation loop needs from a model backend: three protocols.

They speak the wire's vocabulary (`switchboard_wire`): partial transcriptions come back as
`PartialText`, replies as `ReplyEvent`s, whatever serves them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from switchboard_wire.chat import ReplyEvent
from switchboard_wire.transcription import PartialText


class BackendError(RuntimeError):
    """A model backend failed a request (after the retries allowed before any output)."""


class Replayed(bytes):
    """Speech replayed from memory (the phrase cache), not synthesised for this request.

    A `Synthesizer` may yield these instead of plain bytes; the voice reports a turn whose first
    audio was replayed (`TurnLatencyEvent.phrase_cache_hit`).
    """

    __slots__ = ()


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

    def speak(self, text: str, sample_rate: int, *, phrase: bool = False) -> AsyncIterator[bytes]:
        """Stream `text` as PCM16 at `sample_rate`.

        `phrase`: a fixed line the agent says again and again (greeting, filler, apology), which
        may be replayed from memory (as `Replayed` chunks); a reply the model wrote never is,
        unless it equals a phrase the agent declared (`prompt.cachedPhrases`) word for word.
        """
        ...


class ModelBackend(Transcriber, ChatModel, Synthesizer, Protocol):
    """All three stages behind one client (the model plane's HTTP API)."""
