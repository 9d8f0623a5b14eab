"""A phone call over Twilio's protocol (μ-law 8 kHz) against the real model plane.

The Twilio stand-in rings the agent through the signed webhook, streams Piper-spoken caller
turns at real time on a continuous line, plays the agent's audio and echoes its marks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pytest
from aiohttp import web

from switchboard_api.gateway import GatewayConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.recordings import RecordingStore
from switchboard_gateway.transports.twilio.routes import twilio_routes
from switchboard_serve.evaluation import word_error_rate
from switchboard_wire.audio import mulaw_decode
from tests.cases.invalid import example, with_changes
from tests.models.gateway.harness import BackgroundLoop
from tests.models.gateway.test_session import UTTERANCES
from tests.speech import synthesise
from tests.telephony.twilio_peer import PeerCall, TwilioPeer, pcm16_to_mulaw

pytestmark = pytest.mark.models

AUTH_TOKEN = "5f1c0a7e9b3d4c2a8e6f0b1d3c5a7e9f"  # noqa: S105 (a test token)
PUBLIC_URL = "https://phone.example.com"
AGENT = "acme/receptionist"
BARGE_IN = "Please tell me everything about every service you offer and all of the prices."
INTERRUPTION = "Sorry, never mind that."


@dataclass
class MemoryStore:
    """Keeps the call records the gateway saves."""

    saved: list[CallRecord] = field(default_factory=list)

    async def save(self, record: CallRecord) -> None:
        """Keep `record`."""
        self.saved.append(record)


def receptionist() -> VoiceAgent:
    """The example receptionist, short replies, on Twilio (auth token from the environment)."""
    twilio = {"enabled": True, "authTokenSecretRef": {"name": "twilio", "key": "token"}}
    changes = {"spec.pipeline.llm.maxTokens": 40, "spec.channels.twilio": twilio}
    agent = parse_manifest(with_changes(example("receptionist.yaml"), changes), "receptionist")
    assert isinstance(agent, VoiceAgent)
    return agent


@contextmanager
def twilio_gateway(
    base_url: str,
    agent: VoiceAgent | None = None,
    *,
    twilio_api_url: str = "https://api.twilio.com",
    recordings: RecordingStore | None = None,
) -> Iterator[tuple[Gateway, MemoryStore, str]]:
    """The phone port of a gateway on the real model plane: (gateway, records, local URL).

    With `recordings`, the agent's calls are recorded there when its callPolicy says so.
    """
    agent = agent or receptionist()
    telephony = {"port": 0, "public_url": PUBLIC_URL, "twilio_api_url": twilio_api_url}
    config = GatewayConfig(
        model_plane_url=base_url,
        agents=[agent],
        store=None,
        telephony=telephony,  # type: ignore[arg-type]
    )
    agent_config = AgentConfig.from_resource(agent)
    backend = ModelPlaneHttp(
        base_url, max_tokens=agent_config.llm.max_tokens, temperature=0.3, timeout_s=60
    )
    store = MemoryStore()
    entry = AgentEntry(
        agent_config, backend, recorded=agent_config.call_policy.recording and bool(recordings)
    )
    gateway = Gateway({agent_config.key: entry}, store=store, recordings=recordings)  # type: ignore[arg-type]
    background = BackgroundLoop()

    async def serve() -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.add_routes(twilio_routes(gateway, config))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    runner, port = background.run(serve())
    try:
        yield gateway, store, f"http://127.0.0.1:{port}"
    finally:
        background.run(runner.cleanup())
        background.stop()


def _loud(mulaw: bytes) -> bool:
    return bool(np.sqrt(np.mean(mulaw_decode(mulaw) ** 2)) > 0.01)


def test_a_spoken_phone_call_over_twilio_media_streams(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_SECRET_TWILIO_TOKEN", AUTH_TOKEN)
    speech = [pcm16_to_mulaw(pcm) for pcm in synthesise([*UTTERANCES, BARGE_IN, INTERRUPTION])]
    turns, (barge_in, interruption) = speech[:3], speech[3:]

    async def scenario(url: str) -> tuple[PeerCall, int]:
        peer = TwilioPeer(url, PUBLIC_URL, AUTH_TOKEN)
        try:
            call = await peer.call(AGENT, from_="+15550100001", to="+15550100002")
            call.open_line()
            await call.quiet()  # the greeting
            for turn in turns:
                await call.say(turn)
                await call.quiet()
            clears_before = call.heard.clears
            await call.say(barge_in)
            heard = len(call.heard.audio_at)
            while len(call.heard.audio_at) < heard + 25:  # half a second of the reply
                await asyncio.sleep(0.05)
            await call.say(interruption)
            await call.quiet()
            barged = call.heard.clears - clears_before
            await call.dtmf("4")
            await call.quiet()  # the agent answers the key press (after its 2 s collection)
            await call.stop()
            await call.wait_closed(10)
            return call, barged
        finally:
            await peer.aclose()

    with twilio_gateway(base_url) as (gateway, store, url):
        call, barged = asyncio.run(scenario(url))
        for _ in range(50):  # the socket closes just before the gateway counts the call done
            if gateway.active == 0:
                break
            time.sleep(0.1)
        assert gateway.active == 0
    (record,) = store.saved
    assert (record.agent, record.channel, record.end_reason) == (AGENT, "twilio", "caller_hangup")
    finals = [turn.caller_text for turn in record.turns[1:4]]
    assert word_error_rate(list(zip(UTTERANCES, finals, strict=True))) <= 0.2, finals
    assert all(turn.agent_text for turn in record.turns[:4])
    assert any("pressed 4" in turn.caller_text for turn in record.turns), record.turns
    assert _loud(bytes(call.heard.audio)), "the agent's μ-law audio is speech, not silence"
    heard = call.heard
    summary = f"clears={heard.clears} marks={len(heard.marks)} echoed={len(heard.echoed)}"
    assert barged >= 1, f"the caller's interruption sent a clear ({summary})"
    assert call.heard.marks, "agent audio went out with marks"
    assert set(call.heard.echoed) == set(call.heard.marks), "every mark came back"
    assert len(call.heard.played) < len(call.heard.audio), "cleared audio was never played"
    assert call.heard.close_code == 1000
