"""The phrase cache: replayed speech, bounded memory, nothing stored from cut-off speech."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from switchboard_gateway.backends.phrase_cache import PhraseCache, PhraseCachingBackend
from switchboard_gateway.metrics import GatewayMetrics
from switchboard_wire.chat import ReplyEvent
from switchboard_wire.transcription import PartialText

pytestmark = pytest.mark.unit


class CountingTts:
    """Speaks each text as two chunks whose bytes encode the text; counts syntheses."""

    def __init__(self) -> None:
        self.spoken: list[str] = []

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        raise AssertionError("not used")

    def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        raise AssertionError("not used")

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        yield text.encode()
        yield bytes(100)


async def _all(
    backend: PhraseCachingBackend, text: str, rate: int = 16_000, phrase: bool = True
) -> bytes:
    return b"".join([chunk async for chunk in backend.speak(text, rate, phrase=phrase)])


def test_a_phrase_is_synthesised_once_and_replayed_identically() -> None:
    tts = CountingTts()
    backend = PhraseCachingBackend(tts, PhraseCache())

    async def scenario() -> None:
        first = await _all(backend, "Hello, thanks for calling.")
        again = await _all(backend, "Hello, thanks for calling.")
        other_rate = await _all(backend, "Hello, thanks for calling.", 8_000)
        assert first == again == other_rate
        assert tts.spoken == ["Hello, thanks for calling."] * 2  # once per sample rate

    asyncio.run(scenario())
    assert backend.cache.hits == 1


def test_every_lookup_is_reported_as_a_hit_or_a_miss() -> None:
    metrics = GatewayMetrics()
    backend = PhraseCachingBackend(
        CountingTts(), PhraseCache(on_lookup=metrics.phrase_cache_lookup)
    )

    async def scenario() -> None:
        for text in ("Hello.", "Hello.", "Hello.", "Goodbye."):
            await _all(backend, text)

    exposed = metrics.exposition().decode()  # both series exist from the start
    assert 'switchboard_phrase_cache_lookups_total{result="miss"} 0.0' in exposed
    asyncio.run(scenario())
    assert metrics.value("switchboard_phrase_cache_lookups_total", result="hit") == 2
    assert metrics.value("switchboard_phrase_cache_lookups_total", result="miss") == 2
    assert 'switchboard_phrase_cache_lookups_total{result="hit"} 2.0' in (
        metrics.exposition().decode()
    )


def test_speech_cut_short_is_not_remembered() -> None:
    tts = CountingTts()
    backend = PhraseCachingBackend(tts, PhraseCache())

    async def scenario() -> None:
        stream = backend.speak("Let me check.", 16_000, phrase=True)
        await anext(stream)
        await stream.aclose()  # barge-in: the rest was never synthesised
        await _all(backend, "Let me check.")

    asyncio.run(scenario())
    assert tts.spoken == ["Let me check.", "Let me check."]


def test_a_reply_the_model_wrote_is_synthesised_every_time() -> None:
    tts = CountingTts()
    backend = PhraseCachingBackend(tts, PhraseCache())

    async def scenario() -> None:
        for _ in range(3):
            await _all(backend, "We open at nine on Saturdays.", phrase=False)

    asyncio.run(scenario())
    assert tts.spoken == ["We open at nine on Saturdays."] * 3
    assert len(backend.cache) == 0
    assert backend.cache.hits == backend.cache.misses == 0, "replies are not even looked up"


def test_the_least_recently_used_phrase_goes_when_the_cache_is_full() -> None:
    cache = PhraseCache(max_bytes=250)
    cache.put("a", 16_000, (bytes(100),))
    cache.put("b", 16_000, (bytes(100),))
    assert cache.get("a", 16_000) is not None  # "a" is now the most recent
    cache.put("c", 16_000, (bytes(100),))
    assert cache.get("b", 16_000) is None
    assert cache.get("a", 16_000) is not None
    assert cache.get("c", 16_000) is not None
    assert len(cache) == 2


def test_long_texts_and_oversized_speech_are_not_cached() -> None:
    cache = PhraseCache(max_bytes=1000)
    cache.put("x" * 500, 16_000, (bytes(10),))
    cache.put("short", 16_000, (bytes(2000),))
    assert len(cache) == 0
