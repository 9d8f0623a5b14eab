"""Only fixed phrases are replayed from memory, and each turn says whether its first audio was.

The agent's voice speaks through the real phrase cache over a TTS that counts what it was asked
to synthesise: a reply the model wrote is synthesised every time it is said, a phrase the agent
declared (`prompt.cachedPhrases`) once, the greeting at warm-up only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.phrase_cache import PhraseCache, PhraseCachingBackend
from switchboard_gateway.backends.warm_up import warm_up_agent
from switchboard_gateway.conversation.timing import TurnTiming
from switchboard_gateway.conversation.voice import AgentVoice
from switchboard_gateway.events import AudioFormat, OutboundEvent, TurnLatencyEvent
from switchboard_gateway.server import build_gateway
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.transports.grpc.codec import outbound_from_proto, outbound_to_proto
from switchboard_gateway.transports.websocket.codec import outbound_to_json
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText
from switchboard_wire.transcription import PartialText

pytestmark = pytest.mark.unit

GREETING = "Hello, Acme Dental, how can I help?"
DECLARED = "One moment, please."
REPLY = "We open at nine on Saturdays."


class CountingModels:
    """A model backend whose TTS records every text it synthesises (two small chunks each)."""

    def __init__(self) -> None:
        self.synthesised: list[str] = []

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        return PartialText("", "", final, state or "")

    async def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        yield ReplyText("Hi.")
        yield ReplyDone("stop")

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        self.synthesised.append(text)
        yield bytes(640)
        yield bytes(640)


def _config() -> AgentConfig:
    return agent_config(
        prompt={"system": "Test.", "greeting": GREETING, "cachedPhrases": [DECLARED]}
    )


async def _stream(text: str) -> AsyncIterator[ReplyEvent]:
    yield ReplyText(text)
    yield ReplyDone("stop")


async def _say_replies(backend: PhraseCachingBackend, texts: list[str]) -> list[TurnLatencyEvent]:
    """Each text as one reply turn of a call, played out on virtual time; their latencies."""
    clock = FakeClock()

    async def send(event: OutboundEvent) -> None:
        pass

    voice = AgentVoice(backend, send, AudioFormat(), clock)
    latencies = []
    for number, text in enumerate(texts, start=1):
        timing = TurnTiming(number, clock.now())
        voice.start_turn()
        speaking = asyncio.create_task(voice.reply(timing, _stream(text), clock.now()))
        while not speaking.done():
            await clock.advance(0.1)
        await speaking
        latencies.append(timing.latency_event(interrupted=False))
    return latencies


def test_a_reply_sentence_spoken_twice_is_synthesised_twice() -> None:
    models = CountingModels()
    backend = PhraseCachingBackend(models, PhraseCache(), _config().cached_phrases)

    latencies = asyncio.run(_say_replies(backend, [REPLY, REPLY]))

    assert models.synthesised == [REPLY, REPLY]
    assert len(backend.cache) == 0
    assert [latency.phrase_cache_hit for latency in latencies] == [False, False]


def test_a_declared_phrase_is_synthesised_once_and_its_replay_is_reported_per_turn() -> None:
    models = CountingModels()
    backend = PhraseCachingBackend(models, PhraseCache(), _config().cached_phrases)

    latencies = asyncio.run(_say_replies(backend, [DECLARED, REPLY, DECLARED]))

    assert models.synthesised == [DECLARED, REPLY]
    assert [latency.phrase_cache_hit for latency in latencies] == [False, False, True]


def test_a_reply_that_merely_contains_a_declared_phrase_is_not_replayed() -> None:
    models = CountingModels()
    backend = PhraseCachingBackend(models, PhraseCache(), _config().cached_phrases)
    almost = "One moment, please, I will check."

    latencies = asyncio.run(_say_replies(backend, [DECLARED, almost, almost]))

    assert models.synthesised == [DECLARED, almost, almost]
    assert not any(latency.phrase_cache_hit for latency in latencies)


def test_the_greeting_and_the_declared_phrases_are_cached_at_warm_up() -> None:
    config = _config()
    models = CountingModels()
    backend = PhraseCachingBackend(models, PhraseCache(), config.cached_phrases)

    async def scenario() -> None:
        await warm_up_agent(config, backend)
        clock = FakeClock()

        async def send(event: OutboundEvent) -> None:
            pass

        voice = AgentVoice(backend, send, AudioFormat(), clock)
        greeting = asyncio.create_task(voice.say(0, GREETING))
        while not greeting.done():
            await clock.advance(0.1)
        await greeting

    asyncio.run(scenario())
    assert models.synthesised == [GREETING, DECLARED], "the call's greeting was replayed"
    assert backend.cache.hits == 1


def test_the_gateway_gives_each_agent_its_declared_phrases() -> None:
    manifest = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "front", "namespace": "acme"},
        "spec": {"prompt": {"system": "Test.", "cachedPhrases": [DECLARED]}},
    }
    config = GatewayConfig.model_validate(
        {"modelPlaneUrl": "http://127.0.0.1:9", "agents": [manifest], "store": None}
    )

    backend = build_gateway(config, None).agents["acme/front"].backend

    assert isinstance(backend, PhraseCachingBackend)
    assert backend.declared == frozenset({DECLARED})


def test_a_phrase_cache_hit_travels_over_grpc_and_websocket() -> None:
    event = TurnLatencyEvent(3, voice_to_voice_ms=420, phrase_cache_hit=True)

    assert outbound_from_proto(outbound_to_proto(event)) == event
    assert json.loads(outbound_to_json(event))["phraseCacheHit"] is True
    assert json.loads(outbound_to_json(TurnLatencyEvent(4)))["phraseCacheHit"] is False


@pytest.mark.parametrize(
    ("phrases", "why"),
    [([f"Line {n}." for n in range(51)], "at most 50"), (["x" * 201], "at most 200")],
)
def test_the_api_refuses_too_many_or_too_long_declared_phrases(
    phrases: list[str], why: str
) -> None:
    with pytest.raises(ValueError, match="cachedPhrases") as refused:
        agent_config(prompt={"system": "Test.", "cachedPhrases": phrases})
    assert why in str(refused.value)
