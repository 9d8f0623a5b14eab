"""The media socket speaks Twilio's protocol: audio and marks out, playback, DTMF and hang-up in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable

import pytest

from switchboard_gateway.events import (
    AgentAudioEvent,
    AudioFormat,
    CallEndedEvent,
    CallerDtmf,
    CallerHangup,
    CallerPlayed,
    ClearEvent,
    Encoding,
    EndReason,
    InboundEvent,
    OutboundEvent,
    StartCall,
    TelephonyCall,
    TransferEvent,
)
from tests.telephony.twilio_peer import PeerCall
from tests.unit.gateway.transports.twilio.phone import AGENT, AUTH_TOKEN, TOKEN_ENV, phone_port

pytestmark = pytest.mark.unit

Deliver = Callable[[OutboundEvent], Awaitable[None]]


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, AUTH_TOKEN)


def _frame(n: int) -> AgentAudioEvent:
    return AgentAudioEvent(1, n, bytes([n % 256]) * 160)


async def _collect(
    inbound: AsyncIterable[InboundEvent], into: list[InboundEvent], until: type
) -> None:
    async for event in inbound:
        into.append(event)
        if isinstance(event, until):
            return


def test_agent_audio_goes_out_as_frames_with_marks_that_come_back_as_playback() -> None:
    seen: list[InboundEvent] = []
    starts: list[StartCall] = []

    async def script(
        start: StartCall, deliver: Deliver, inbound: AsyncIterable[InboundEvent]
    ) -> CallEndedEvent:
        starts.append(start)
        for n in range(1, 13):
            await deliver(_frame(n))
        await asyncio.wait_for(_collect(inbound, seen, CallerHangup), 5)
        return CallEndedEvent(EndReason.CALLER_HANGUP)

    async def scenario() -> PeerCall:
        async with phone_port() as phone:
            phone.gateway.script = script
            call = await phone.peer.call(AGENT, "CA42", from_="+15550100001", to="+15550100002")
            await asyncio.sleep(0.6)  # 240 ms of audio plays, its marks echo
            await call.dtmf("7")
            await call.stop()
            await call.wait_closed(5)
            await asyncio.sleep(0.2)  # the handler closes the socket, then its REST client
            assert phone.rest.actions == [], "a caller's hang-up needs no REST call"
            assert phone.rest.closed
            return call

    call = asyncio.run(scenario())
    assert len(call.heard.audio) == 12 * 160
    assert call.heard.marks == ["5", "10", "12"], "every 5 frames and at the pause"
    assert [e for e in seen if isinstance(e, CallerPlayed)] == [
        CallerPlayed(5),
        CallerPlayed(10),
        CallerPlayed(12),
    ]
    assert CallerDtmf("7") in seen
    assert isinstance(seen[-1], CallerHangup)
    (start,) = starts
    assert start.agent == AGENT
    assert start.input_format == start.output_format == AudioFormat(8000, Encoding.MULAW)
    assert start.reports_playback
    assert start.telephony == TelephonyCall(
        "twilio", "CA42", "+15550100001", "+15550100002", "inbound", call.stream_sid
    )


def test_marks_echoed_because_of_a_clear_are_not_counted_as_played() -> None:
    seen: list[InboundEvent] = []

    async def script(
        start: StartCall, deliver: Deliver, inbound: AsyncIterable[InboundEvent]
    ) -> CallEndedEvent:
        reader = asyncio.create_task(_collect(inbound, seen, CallerHangup))
        for n in range(1, 51):  # one second of audio sent at once: its marks are pending
            await deliver(_frame(n))
        await asyncio.sleep(0.25)
        await deliver(ClearEvent(1, 50))
        await asyncio.sleep(0.3)
        for n in range(51, 56):
            await deliver(_frame(n))
        await asyncio.wait_for(reader, 5)
        return CallEndedEvent(EndReason.CALLER_HANGUP)

    async def scenario() -> PeerCall:
        async with phone_port() as phone:
            phone.gateway.script = script
            call = await phone.peer.call(AGENT)
            await asyncio.sleep(1.0)
            await call.stop()
            await call.wait_closed(5)
            return call

    call = asyncio.run(scenario())
    assert call.heard.clears == 1
    played = [e.sequence for e in seen if isinstance(e, CallerPlayed)]
    assert call.heard.echoed[-1] == "55"
    assert len(call.heard.echoed) == 11, "every mark came back, the cleared ones at once"
    assert played[-1] == 55
    assert all(seq <= 25 for seq in played[:-1]), f"only marks heard before the clear: {played}"
    assert 1 <= len(played) <= 6


def test_an_agent_hang_up_ends_the_twilio_call_through_rest() -> None:
    async def script(
        start: StartCall, deliver: Deliver, inbound: AsyncIterable[InboundEvent]
    ) -> CallEndedEvent:
        return CallEndedEvent(EndReason.AGENT_ENDED, "goodbye")

    async def scenario() -> tuple[PeerCall, list[tuple[str, str]]]:
        async with phone_port() as phone:
            phone.gateway.script = script
            call = await phone.peer.call(AGENT, "CA7")
            await call.wait_closed(5)
            return call, phone.rest.actions

    call, actions = asyncio.run(scenario())
    assert actions == [("hang_up", "CA7")]
    assert call.heard.close_code == 1000


def test_a_transfer_redirects_the_call_and_the_transferred_end_does_not_hang_up() -> None:
    async def script(
        start: StartCall, deliver: Deliver, inbound: AsyncIterable[InboundEvent]
    ) -> CallEndedEvent:
        await deliver(TransferEvent("+15550100003", "handoff"))
        return CallEndedEvent(EndReason.TRANSFERRED)

    async def scenario() -> list[tuple[str, str]]:
        async with phone_port() as phone:
            phone.gateway.script = script
            call = await phone.peer.call(AGENT, "CA8")
            await call.wait_closed(5)
            return phone.rest.actions

    assert asyncio.run(scenario()) == [("transfer", "CA8->+15550100003")]


def test_a_failing_rest_api_is_logged_without_secrets_and_the_call_still_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def script(
        start: StartCall, deliver: Deliver, inbound: AsyncIterable[InboundEvent]
    ) -> CallEndedEvent:
        await deliver(TransferEvent("sip:desk@example.com", "handoff"))
        return CallEndedEvent(EndReason.IDLE_TIMEOUT)

    async def scenario() -> PeerCall:
        async with phone_port() as phone:
            phone.gateway.script = script
            phone.rest.fail = True
            call = await phone.peer.call(AGENT, "CA9")
            await call.wait_closed(5)
            return call

    with caplog.at_level(logging.INFO):
        call = asyncio.run(scenario())
    assert call.heard.close_code == 1000
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2, failures
    assert not any(AUTH_TOKEN in r.getMessage() for r in caplog.records)
