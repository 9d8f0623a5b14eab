"""Speech for texts the agent says again and again (greetings, fillers, apologies), kept in memory.

A greeting is the first thing every caller hears; synthesising it per call costs the TTS
round-trip on every call. The cache wraps a backend: speech for a text is remembered after one
complete synthesis and replayed from memory afterwards. It is bounded by total bytes and evicts
the least recently used text; speech cut short (cancelled, failed) is never stored.

Only fixed phrases are kept: the lines the gateway itself says (`phrase=True`: greetings, the
recording notice, the handoff line, fillers, apologies) and the lines an agent declares
(`prompt.cachedPhrases`). A sentence the model wrote is synthesised every time, unless it equals
a declared phrase exactly: replaying replies would hide the cost of synthesis behind a
coincidence of wording (and benchmarks would show it as speed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

from switchboard_gateway.backends.base import ModelBackend, Replayed
from switchboard_gateway.backends.model_load import partial_welcome
from switchboard_wire.chat import ReplyEvent
from switchboard_wire.transcription import PartialText

#: 8 MiB holds ~4 minutes of 16 kHz speech.
DEFAULT_MAX_BYTES = 8 << 20
#: Longer texts are replies, not phrases: not worth the memory.
MAX_PHRASE_CHARS = 200


class PhraseCache:
    """Synthesised speech by (text, sample rate), least recently used evicted first.

    `on_lookup` hears every lookup: True for a hit (the gateway counts them in its metrics).
    """

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._on_lookup = on_lookup
        self._entries: OrderedDict[tuple[str, int], tuple[Replayed, ...]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, text: str, sample_rate: int) -> tuple[Replayed, ...] | None:
        """The stored chunks for a text, marking it recently used."""
        key = (text, sample_rate)
        chunks = self._entries.get(key)
        if self._on_lookup is not None:
            self._on_lookup(chunks is not None)
        if chunks is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return chunks

    def put(self, text: str, sample_rate: int, chunks: tuple[bytes, ...]) -> None:
        """Remember speech for a text, evicting old entries to stay under `max_bytes`."""
        size = sum(len(c) for c in chunks)
        if len(text) > MAX_PHRASE_CHARS or size > self.max_bytes:
            return
        key = (text, sample_rate)
        if key in self._entries:
            self._bytes -= sum(len(c) for c in self._entries.pop(key))
        self._entries[key] = tuple(Replayed(chunk) for chunk in chunks)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= sum(len(c) for c in evicted)

    def __len__(self) -> int:
        return len(self._entries)


class PhraseCachingBackend:
    """A `ModelBackend` that replays remembered phrases; everything else passes through.

    `declared`: the agent's own fixed lines (`prompt.cachedPhrases`), cached even when the model
    says them; any other text the model wrote is synthesised every time.
    """

    def __init__(
        self, inner: ModelBackend, cache: PhraseCache, declared: frozenset[str] = frozenset()
    ) -> None:
        self.inner, self.cache, self.declared = inner, cache, declared

    def partial_welcome(self) -> bool:
        """Passed through (`model_load.partial_welcome`)."""
        return partial_welcome(self.inner)

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """Passed through."""
        return await self.inner.transcribe(pcm16, sample_rate, state, final=final)

    def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        """Passed through."""
        return self.inner.reply(messages, tools)

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncGenerator[bytes, None]:
        """A phrase's remembered speech (`Replayed` chunks), or the inner backend's.

        Only phrases are cached (once their speech is complete): the gateway's own lines
        (`phrase`) and the declared ones.
        """
        if not (phrase or text in self.declared):
            async for chunk in self.inner.speak(text, sample_rate):
                yield chunk
            return
        stored = self.cache.get(text, sample_rate)
        if stored is not None:
            for chunk in stored:
                yield chunk
            return
        heard: list[bytes] = []
        async for chunk in self.inner.speak(text, sample_rate):
            heard.append(chunk)
            yield chunk
        self.cache.put(text, sample_rate, tuple(heard))

    async def aclose(self) -> None:
        """Close the inner backend if it holds connections."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
