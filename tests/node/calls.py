"""Spoken calls from the node to a gateway Service, over gRPC and over WebSocket."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import ssl
from collections.abc import Sequence
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

from switchboard_api.pipeline import AsrSpec
from switchboard_gateway.scripted_caller import ScriptedCaller, Turn
from switchboard_gateway.scripted_caller.outcome import CallOutcome
from switchboard_gateway.scripted_caller.over_grpc import run_call
from switchboard_serve.engines import make_asr
from tests.speech import synthesise
from tests.ws_caller import feed_ws_events

REPLY_TIMEOUT_S = 90.0
#: The tenant's API key in this run (conftest puts it in Secret `acme-api-keys` and in the
#: `helm test` hook's Secret): gateways the operator deploys refuse calls without it.
API_KEY = secrets.token_hex(24)


def spoken_turns(texts: Sequence[str]) -> list[Turn]:
    """Each text spoken by Piper, as a caller's turn."""
    return [Turn(audio=pcm) for pcm in synthesise(list(texts))]


def grpc_call(
    target: str, agent: str, turns: Sequence[Turn], api_key: str = API_KEY
) -> CallOutcome:
    """A call over gRPC to `target` (`host:port`)."""
    return asyncio.run(run_call(target, agent, turns, api_key=api_key, timeout=REPLY_TIMEOUT_S))


def ws_call(
    url: str,
    agent: str,
    turns: Sequence[Turn],
    address: str = "",
    api_key: str = API_KEY,
    tls: ssl.SSLContext | None = None,
) -> CallOutcome:
    """A call over WebSocket to `url` (`ws://` or, with `tls`, `wss://host:port/...`),
    connecting to `address` instead of resolving the URL's host when given (the request, and
    the TLS handshake, still name that host)."""

    async def scenario() -> CallOutcome:
        port = urlsplit(url).port or 80
        sock = socket.create_connection((address, port), timeout=10) if address else None
        async with connect(url, open_timeout=30, sock=sock, ssl=tls) as socket_:
            start = {"type": "start", "agent": agent, "apiKey": api_key}
            await socket_.send(json.dumps(start))
            caller = ScriptedCaller(socket_.send)
            reader = asyncio.create_task(feed_ws_events(socket_, caller), name="ws-events")
            try:
                await caller.converse(turns, timeout_s=REPLY_TIMEOUT_S)
                await socket_.send(json.dumps({"type": "hangup"}))
                await asyncio.wait_for(asyncio.shield(reader), 15)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            return CallOutcome.of(caller)

    return asyncio.run(scenario())


def transcribe(pcm16: bytes, seconds: float = 20.0) -> str:
    """What the packaged ASR hears in the agent's audio (16 kHz PCM16), at most `seconds`."""
    import numpy as np

    audio = np.frombuffer(pcm16[: int(16_000 * seconds) * 2], dtype="<i2")
    return make_asr(AsrSpec()).transcribe((audio / 32768).astype(np.float32)).text
