"""Each kind of bad input ends that stream's call with a clear reason; the gateway goes on."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from switchboard_gateway.transports.twilio.codec import MAX_PAYLOAD_BYTES
from switchboard_gateway.transports.twilio.twiml import stream_parameters
from tests.telephony.twilio_peer import PeerCall, TwilioPeer, parse_twiml, silence
from tests.unit.gateway.transports.twilio.phone import AGENT, AUTH_TOKEN, TOKEN_ENV, phone_port

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, AUTH_TOKEN)


def _media(payload: str) -> str:
    media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": media})


FRAME_B64 = base64.b64encode(silence(0.02)).decode()
AFTER_START: dict[str, tuple[str | bytes | None, str]] = {
    "malformed base64": (_media("@@@@"), "not valid base64"),
    "a partial frame": (_media(base64.b64encode(bytes(100)).decode()), "not whole 20 ms"),
    "an oversized payload": (
        _media(base64.b64encode(bytes(MAX_PAYLOAD_BYTES + 160)).decode()),
        "over",
    ),
    "an unknown event": (json.dumps({"event": "dance"}), "unknown event"),
    "not JSON": ("{{{", "not JSON"),
    "a binary message": (b"\x00\x01", "binary"),
    "a second start": (None, "second start"),
}


async def _open(peer: TwilioPeer, call_sid: str, *, start: bool) -> tuple[PeerCall, dict[str, str]]:
    status, body = await peer.webhook(AGENT, call_sid)
    assert status == 200
    stream = parse_twiml(body)
    return await peer.open_stream(stream, call_sid, start=start), stream.parameters


@pytest.mark.parametrize("case", sorted(AFTER_START))
def test_bad_input_after_start_ends_the_call_with_protocol_error_and_its_reason(case: str) -> None:
    message, reason = AFTER_START[case]

    async def scenario() -> tuple[PeerCall, int, int]:
        async with phone_port() as phone:
            call, params = await _open(phone.peer, "CA1", start=True)
            await call.send_raw(_media(FRAME_B64))
            if message is None:
                await call.send_start(params)
            else:
                await call.send_raw(message)
            await call.wait_closed(5)
            await asyncio.sleep(0.1)
            again = await phone.peer.call(AGENT, "CA2")  # the port still takes calls
            await again.stop()
            await again.wait_closed(5)
            return call, phone.gateway.active, len(phone.rest.actions)

    call, active, actions = asyncio.run(scenario())
    assert call.heard.close_code == 1008
    assert call.heard.close_reason.startswith("protocol_error")
    assert reason in call.heard.close_reason
    assert active == 0
    assert actions == 1, "the phone call is hung up through REST"


BEFORE_START: dict[str, tuple[str, str]] = {
    "media before start": (_media(FRAME_B64), "media before start"),
    "a mark before start": (json.dumps({"event": "mark", "mark": {"name": "1"}}), "before start"),
    "not JSON": ("nope", "not JSON"),
    "an unknown event": (json.dumps({"event": "dance"}), "unknown event"),
}


@pytest.mark.parametrize("case", sorted(BEFORE_START))
def test_bad_input_before_start_refuses_the_stream_with_its_reason(case: str) -> None:
    message, reason = BEFORE_START[case]

    async def scenario() -> PeerCall:
        async with phone_port() as phone:
            call, _ = await _open(phone.peer, "CA1", start=False)
            await call.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await call.send_raw(message)
            await call.wait_closed(5)
            assert phone.rest.actions == []
            return call

    call = asyncio.run(scenario())
    assert call.heard.close_code == 1008
    assert reason in call.heard.close_reason


FORGED = {
    "a token made with another auth token": lambda p: stream_parameters(
        "f" * 32, AGENT, "inbound", "CA1"
    ),
    "a tampered nonce": lambda p: {**p, "nonce": "CA2"},
    "no token": lambda p: {k: v for k, v in p.items() if k != "token"},
    "another call's parameters": lambda p: stream_parameters(AUTH_TOKEN, AGENT, "inbound", "CA9"),
    "an unknown agent": lambda p: stream_parameters(AUTH_TOKEN, "test/other", "inbound", "CA1"),
    "an odd direction": lambda p: stream_parameters(AUTH_TOKEN, AGENT, "sideways", "CA1"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_start_never_reaches_the_agent(case: str) -> None:
    async def scenario() -> tuple[PeerCall, int]:
        async with phone_port() as phone:
            call, params = await _open(phone.peer, "CA1", start=False)
            await call.send_start(FORGED[case](params))
            await call.wait_closed(5)
            return call, phone.gateway.active

    call, active = asyncio.run(scenario())
    assert call.heard.close_code == 1008
    assert "parameters" in call.heard.close_reason or "direction" in call.heard.close_reason
    assert active == 0


def test_a_start_in_another_media_format_is_refused() -> None:
    async def scenario() -> PeerCall:
        async with phone_port() as phone:
            call, params = await _open(phone.peer, "CA1", start=False)
            await call.send_start(params, sampleRate=16000)
            await call.wait_closed(5)
            return call

    call = asyncio.run(scenario())
    assert call.heard.close_code == 1008
    assert "media format" in call.heard.close_reason


def test_a_replayed_stream_opens_no_second_call() -> None:
    async def scenario() -> tuple[PeerCall, PeerCall]:
        async with phone_port() as phone:
            first, params = await _open(phone.peer, "CA1", start=True)
            await first.stop()
            await first.wait_closed(5)
            status, body = await phone.peer.webhook(AGENT, "CA1")
            assert status == 200
            replay = await phone.peer.open_stream(parse_twiml(body), "CA1", start=False)
            await replay.send_start(params)
            await replay.wait_closed(5)
            return first, replay

    first, replay = asyncio.run(scenario())
    assert first.heard.close_code == 1000
    assert replay.heard.close_code == 1008
    assert "replay" in replay.heard.close_reason
