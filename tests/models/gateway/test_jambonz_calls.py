"""A spoken conversation over jambonz's protocols (16 kHz L16) with the real models.

The jambonz stand-in (tests/telephony/jambonz_peer.py) places the call message by message:
basic-auth application socket, `session:new`, the `ack`'s listen verb, caller L16 at real time,
a barge-in (answered with `killAudio`), a key press, then `call:status` completed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

import numpy as np
import pytest
from aiohttp import web

from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallerDtmf,
    ClearEvent,
    EndReason,
    InboundEvent,
    OutboundEvent,
    StartCall,
    TurnLatencyEvent,
)
from switchboard_gateway.gateway import Admission, Gateway
from switchboard_gateway.scripted_caller import ScriptedCaller
from switchboard_gateway.transports.jambonz.routes import jambonz_routes
from switchboard_serve.evaluation import word_error_rate
from switchboard_wire.audio import float_to_pcm16, pcm16_to_float, resample
from tests.cases.invalid import example, with_changes
from tests.models.gateway.harness import make_gateway
from tests.models.gateway.test_session import UTTERANCES
from tests.speech import RATE, synthesise
from tests.telephony.jambonz_peer import JambonzPeer

pytestmark = pytest.mark.models

AGENT = "acme/receptionist"
REF = {"name": "jambonz-app", "key": "auth"}
USER, PASSWORD = "jambonz", "a-long-shared-secret"
#: jambonz's wideband L16 (the Twilio tests cover 8 kHz phone audio; unit tests both rates).
PHONE_RATE = 16_000


class TappedGateway:
    """The real gateway, with the events it delivers and the caller events it reads kept."""

    def __init__(self, gateway: Gateway, caller: ScriptedCaller) -> None:
        self.gateway, self.caller = gateway, caller
        self.inbound: list[InboundEvent] = []
        self.starts: list[StartCall] = []

    def admit(
        self, start: StartCall, channel: str, *, provider_verified: bool = False
    ) -> Admission | CallEndedEvent:
        self.starts.append(start)
        return self.gateway.admit(start, channel, provider_verified=provider_verified)

    def refuse(self, reason: EndReason, detail: str) -> CallEndedEvent:
        return self.gateway.refuse(reason, detail)

    async def run_call(
        self,
        admission: Admission,
        start: StartCall,
        deliver: Callable[[OutboundEvent], Awaitable[None]],
        inbound: AsyncIterable[InboundEvent],
        channel: str = "grpc",
    ) -> CallEndedEvent:
        async def tapped(event: OutboundEvent) -> None:
            self.caller.on_event(event)
            await deliver(event)

        async def read() -> AsyncIterator[InboundEvent]:
            async for event in inbound:
                self.inbound.append(event)
                yield event

        return await self.gateway.run_call(admission, start, tapped, read(), channel)


def _to_phone(pcm16: bytes) -> bytes:
    """Piper's PCM16 as L16 at the channel's rate."""
    return float_to_pcm16(resample(pcm16_to_float(pcm16), RATE, PHONE_RATE))


def test_a_three_turn_conversation_over_jambonz_with_barge_in_and_dtmf(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(secret_env_name(SecretKeyRef(**REF)), f"{USER}:{PASSWORD}")
    speech = [_to_phone(pcm) for pcm in synthesise(UTTERANCES)]
    changes = {
        "spec.channels.jambonz": {
            "enabled": True,
            "basicAuthSecretRef": REF,
            "sampleRate": PHONE_RATE,
        },
        "spec.callPolicy.bargeIn": {"minSpeechMs": 50},
        "spec.pipeline.vad": {"minSpeechMs": 64},
    }

    async def scenario() -> tuple[JambonzPeer, TappedGateway, ScriptedCaller, float]:
        gateway = make_gateway(base_url, 20, None, **changes)
        peer: JambonzPeer

        async def silence_frame(frame: bytes) -> None:  # the caller's silence between turns
            if peer.listen is not None and not peer.listen.closed:
                await peer.listen.send_bytes(bytes(len(frame) // 2))

        caller = ScriptedCaller(silence_frame)
        tapped = TappedGateway(gateway, caller)
        app = web.Application()
        config = GatewayConfig.model_validate(
            {"model_plane_url": base_url, "agents": [_manifest(changes)]}
        )
        app.add_routes(jambonz_routes(tapped, config))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with JambonzPeer(
                f"http://127.0.0.1:{port}", AGENT, (USER, PASSWORD), sample_rate=PHONE_RATE
            ) as peer:
                verbs = await peer.start()
                await peer.run_listen(verbs[1])
                while not caller.seen.of(AgentAudioEvent):
                    await peer.silence(0.02)
                await peer.silence(0.8)  # the greeting is playing: the caller talks over it
                barged_at = time.monotonic()
                for number, pcm in enumerate(speech, start=1):
                    await peer.stream(pcm)
                    await caller.wait_for_reply(number, 90)
                await peer.dtmf("5")
                await caller.silence_until(lambda: CallerDtmf("5") in tapped.inbound, timeout_s=10)
                await peer.hang_up()
                await caller.wait(lambda: caller.ended, 20)
        finally:
            await runner.cleanup()
            await gateway.records_saved()
        return peer, tapped, caller, barged_at

    peer, tapped, caller, barged_at = asyncio.run(scenario())
    (start,) = tapped.starts
    assert start.telephony is not None
    assert start.telephony.provider == "jambonz"
    assert start.telephony.from_number == "+15083084809"
    assert start.input_format.sample_rate == PHONE_RATE
    finals = caller.finals()
    assert len(finals) >= 3, finals
    assert word_error_rate(list(zip(UTTERANCES, finals[:3], strict=True))) <= 0.2, finals
    assert len(caller.seen.of(TurnLatencyEvent)) >= 3
    # Barge-in: the gateway cleared the greeting, and jambonz was told to kill its playout.
    assert caller.seen.of(ClearEvent), "the caller talked over the greeting"
    assert peer.heard.kills, "killAudio reached jambonz"
    assert peer.heard.kills[0][0] >= barged_at
    assert {"type": "killAudio"} in peer.heard.texts
    # The agent's voice came back as L16 at the channel's rate: seconds of it, whole samples.
    assert len(peer.heard.audio) > 3 * PHONE_RATE * 2
    assert len(peer.heard.audio) % 2 == 0
    level = np.abs(np.frombuffer(bytes(peer.heard.audio), "<i2")).mean()
    assert level > 50, "the agent audio is not silence"
    assert CallerDtmf("5") in tapped.inbound
    assert caller.seen.of(CallEndedEvent)[-1].reason is EndReason.CALLER_HANGUP


def _manifest(changes: dict[str, object]) -> dict[str, object]:
    manifest: dict[str, object] = with_changes(
        example("receptionist.yaml"), {"spec.pipeline.llm.maxTokens": 40, **changes}
    )
    return manifest
