"""Calls over a real WebSocket: a conversation, bad input, and overload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallStarted,
    EndReason,
    TurnLatencyEvent,
)
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.records.model import CallRecord, CallStore
from switchboard_gateway.records.postgres import PostgresCallStore
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn
from switchboard_serve.evaluation import word_error_rate
from tests.models.gateway.harness import API_KEY, ws_gateway
from tests.models.gateway.test_grpc_calls import check_record
from tests.models.gateway.test_session import UTTERANCES
from tests.speech import synthesise
from tests.ws_caller import feed_ws_events

pytestmark = pytest.mark.models

START = {"type": "start", "agent": "acme/receptionist", "apiKey": API_KEY}


@pytest.fixture(scope="module")
def target(base_url: str, postgres_dsn: str) -> Iterator[tuple[Gateway, str]]:
    """A WebSocket gateway that keeps call records in a real PostgreSQL server."""

    async def postgres() -> CallStore:
        return await PostgresCallStore.open(postgres_dsn)

    with ws_gateway(base_url, open_store=postgres) as running:
        yield running


def test_a_three_turn_conversation_over_websocket(
    target: tuple[Gateway, str], postgres_dsn: str
) -> None:
    speech = synthesise(UTTERANCES)

    async def scenario() -> ScriptedCaller:
        async with connect(target[1]) as socket:
            await socket.send(json.dumps(START))
            caller = ScriptedCaller(socket.send)
            reader = asyncio.create_task(feed_ws_events(socket, caller))
            await caller.converse([Turn(audio=pcm) for pcm in speech])
            await socket.send(json.dumps({"type": "hangup", "reason": "done"}))
            await asyncio.wait_for(reader, 10)
            return caller

    caller = asyncio.run(scenario())
    assert caller.seen.of(CallEndedEvent) == [CallEndedEvent(EndReason.CALLER_HANGUP, "done")]
    finals = caller.finals()
    assert word_error_rate(list(zip(UTTERANCES, finals, strict=True))) <= 0.2, finals
    assert len(caller.seen.of(TurnLatencyEvent)) == 3
    assert len(caller.seen.of(AgentAudioEvent)) > 100
    (started,) = caller.seen.of(CallStarted)

    async def stored() -> CallRecord | None:  # read back over a connection of its own
        store = await PostgresCallStore.open(postgres_dsn)
        try:
            return await store.get(started.call_id)
        finally:
            await store.close()

    check_record(asyncio.run(stored()), "websocket", finals)


async def _exchange(url: str, messages: list[Any]) -> tuple[list[dict[str, Any]], int | None]:
    """Send messages, collect JSON replies until the server closes; returns them and the code."""
    replies: list[dict[str, Any]] = []
    async with connect(url, max_size=None) as socket:
        for message in messages:
            await socket.send(message if isinstance(message, str | bytes) else json.dumps(message))
        try:
            async for reply in socket:
                if isinstance(reply, str):
                    replies.append(json.loads(reply))
        except ConnectionClosed:
            pass
        return replies, socket.close_code


BAD = [
    ("malformed JSON first", ["{nope"], "protocol_error", "malformed JSON"),
    ("audio first", [b"\x00\x00" * 160], "protocol_error", "start"),
    (
        "wrong sample rate",
        [{**START, "inputFormat": {"sampleRate": 11025}}],
        "protocol_error",
        "11025",
    ),
    ("unknown agent", [{**START, "agent": "acme/nobody"}], "unknown_agent", "nobody"),
    ("bad key", [{**START, "apiKey": "sk-wrong"}], "unauthenticated", "API key"),
    (
        "a lone surrogate as key",
        ['{"type": "start", "agent": "acme/receptionist", "apiKey": "\\ud800"}'],
        "unauthenticated",
        "API key",
    ),
    ("malformed JSON later", [START, "[1, 2"], "protocol_error", "JSON"),
    ("unknown type", [START, {"type": "dance"}], "protocol_error", "dance"),
    ("odd-length audio", [START, b"\x00" * 321], "protocol_error", "odd length"),
    ("oversized frame", [START, b"\x00" * 300_000], "protocol_error", "over"),
]


@pytest.mark.parametrize(("case", "messages", "reason", "detail"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_ends_the_call_with_a_clear_reason(
    target: tuple[Gateway, str], case: str, messages: list[Any], reason: str, detail: str
) -> None:
    replies, code = asyncio.run(_exchange(target[1], messages))
    ended = replies[-1]
    assert ended["type"] == "ended"
    assert ended["reason"] == reason
    assert detail in ended["detail"]
    assert code in (1000, 1008)


def test_a_full_gateway_closes_with_try_again_later(base_url: str) -> None:
    with ws_gateway(base_url, max_calls=1) as (_, url):

        async def scenario() -> int | None:
            async with connect(url) as first:
                await first.send(json.dumps(START))
                started = json.loads(await first.recv())
                assert started["type"] == "started"
                _, code = await _exchange(url, [START])
                return code

        assert asyncio.run(scenario()) == 1013


def test_health_readiness_and_metrics_on_the_http_port(base_url: str) -> None:
    with ws_gateway(base_url, max_calls=1) as (gateway, url):
        http = url.replace("ws://", "http://").removesuffix("/v1/calls")
        assert httpx.get(f"{http}/healthz", timeout=5).text == "ok\n"
        assert httpx.get(f"{http}/readyz", timeout=5).status_code == 200
        assert httpx.get(f"{http}/nowhere", timeout=5).status_code == 404

        async def typed_turn() -> int:
            async with connect(url) as socket:
                await socket.send(json.dumps(START))
                await socket.send(json.dumps({"type": "text", "text": "Are you open today?"}))
                async for message in socket:
                    if isinstance(message, str) and json.loads(message)["type"] == "latency":
                        break
                full = httpx.get(f"{http}/readyz", timeout=5)
                await socket.send(json.dumps({"type": "hangup", "reason": "done"}))
                async for _ in socket:
                    pass
                return full.status_code

        assert asyncio.run(typed_turn()) == 503, "one call of one: at capacity, not ready"
        scraped = httpx.get(f"{http}/metrics", timeout=5)
        assert scraped.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        agent = 'agent="acme/receptionist"'
        assert f'switchboard_calls_total{{{agent},outcome="caller_hangup"}} 1.0' in scraped.text
        assert f"switchboard_active_calls{{{agent}}} 0.0" in scraped.text
        for stage in ("llm_ttft", "tts_ttfb", "voice_to_voice"):
            count = gateway.metrics.value(
                "switchboard_stage_latency_seconds_count", agent=agent[7:-1], stage=stage
            )
            assert count == 1, stage
        gateway.draining = True
        assert httpx.get(f"{http}/readyz", timeout=5).status_code == 503
