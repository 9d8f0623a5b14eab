"""Twilio's voice webhook: only requests Twilio signed get TwiML; the rest get a status."""

from __future__ import annotations

import asyncio
import base64
import random

import pytest

from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.transports.phone_port import start_phone_port
from tests.telephony.twilio_peer import TwilioPeer, parse_twiml, twilio_signature
from tests.unit.gateway.transports.twilio.phone import (
    AGENT,
    AUTH_TOKEN,
    PUBLIC_URL,
    TOKEN_ENV,
    phone_port,
    twilio_agent,
)

pytestmark = pytest.mark.unit

PATH = f"/v1/twilio/{AGENT}/voice"
FORM = {
    "CallSid": "CA" + "a" * 32,
    "AccountSid": "AC" + "1" * 32,
    "From": "+15550100001",
    "To": "+15550100002",
    "CallStatus": "ringing",
    "Direction": "inbound",
}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, AUTH_TOKEN)


def test_a_signed_webhook_gets_twiml_connecting_the_call_to_the_media_socket() -> None:
    async def scenario() -> tuple[int, str, str]:
        async with phone_port() as phone:
            signature = twilio_signature(AUTH_TOKEN, PUBLIC_URL + PATH, FORM)
            headers = {"X-Twilio-Signature": signature}
            async with phone.peer.session.post(phone.url + PATH, data=FORM, headers=headers) as r:
                return r.status, r.content_type, await r.text()

    status, content_type, body = asyncio.run(scenario())
    assert status == 200
    assert content_type == "text/xml"
    stream = parse_twiml(body)
    assert stream.url == "wss://phone.example.com/v1/twilio/media"
    assert stream.parameters["agent"] == AGENT
    assert stream.parameters["direction"] == "inbound"
    assert stream.parameters["nonce"] == FORM["CallSid"]
    assert stream.parameters["from"] == "+15550100001"
    assert stream.parameters["to"] == "+15550100002"
    assert len(stream.parameters["token"]) == 64


def _flip(signature: str, bit: int) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[bit // 8 % len(raw)] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


def _tampered(rng: random.Random, n: int) -> tuple[str, dict[str, str], str]:
    """(path, form, signature): a request Twilio did not sign like this."""
    genuine_url = PUBLIC_URL + PATH
    kind = n % 5
    if kind == 0:  # bit flips of the genuine signature
        return (
            PATH,
            FORM,
            _flip(twilio_signature(AUTH_TOKEN, genuine_url, FORM), rng.randrange(160)),
        )
    if kind == 1:  # signed with another token
        other = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        return PATH, FORM, twilio_signature(other, genuine_url, FORM)
    if kind == 2:  # signed for another URL
        url = rng.choice(
            [
                "http://phone.example.com" + PATH,
                "https://evil.example.com" + PATH,
                PUBLIC_URL + "/v1/twilio/test/other/voice",
                genuine_url + f"?x={n}",
                PUBLIC_URL + PATH.upper(),
            ]
        )
        return PATH, FORM, twilio_signature(AUTH_TOKEN, url, FORM)
    signed = FORM
    form = dict(FORM)
    if kind == 3:  # a parameter changed after signing
        key = rng.choice(sorted(form))
        form[key] = form[key] + str(rng.randrange(10))
    else:  # a parameter added or removed after signing
        if rng.random() < 0.5:
            form[f"Extra{n}"] = "1"
        else:
            form.pop(rng.choice(sorted(form)))
    return PATH, form, twilio_signature(AUTH_TOKEN, genuine_url, signed)


def test_a_thousand_tampered_signatures_are_all_refused_and_the_genuine_one_accepted() -> None:
    rng = random.Random(20)  # noqa: S311 (reproducible tampering, not a secret)

    async def scenario() -> tuple[list[int], int]:
        async with phone_port() as phone:
            statuses = []
            for n in range(1000):
                path, form, signature = _tampered(rng, n)
                headers = {"X-Twilio-Signature": signature}
                async with phone.peer.session.post(
                    phone.url + path, data=form, headers=headers
                ) as r:
                    statuses.append(r.status)
            genuine, _ = await phone.peer.webhook(AGENT, FORM["CallSid"])
            return statuses, genuine

    statuses, genuine = asyncio.run(scenario())
    assert len(statuses) == 1000
    assert statuses.count(200) == 0, "no tampered request was accepted"
    assert set(statuses) == {403}
    assert genuine == 200


def test_a_missing_signature_or_auth_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> tuple[int, int]:
        async with phone_port() as phone:
            unsigned, _ = await phone.peer.webhook(AGENT, "CA1", signature="")
            monkeypatch.delenv(TOKEN_ENV)
            no_token, _ = await phone.peer.webhook(AGENT, "CA1")
            return unsigned, no_token

    assert asyncio.run(scenario()) == (403, 403)


def test_an_unknown_agent_is_not_found() -> None:
    async def scenario() -> int:
        async with phone_port() as phone:
            status, _ = await phone.peer.webhook("test/nobody", "CA1")
            return status

    assert asyncio.run(scenario()) == 404


def test_without_a_public_url_the_webhook_says_which_setting_is_missing() -> None:
    async def scenario() -> tuple[int, str]:
        async with phone_port(public_url=None) as phone:
            return await phone.peer.webhook(AGENT, "CA1")

    status, body = asyncio.run(scenario())
    assert status == 503
    assert "channels.twilio.publicUrl" in body


def test_the_phone_port_serves_the_twilio_routes_of_an_agent_with_twilio_on() -> None:
    agent = twilio_agent()
    config = GatewayConfig.model_validate(
        {
            "model_plane_url": "http://127.0.0.1:1",
            "host": "127.0.0.1",
            "agents": [agent.model_dump(by_alias=True, exclude_none=True)],
            "telephony": {"port": 0, "public_url": PUBLIC_URL},
        }
    )
    entry = AgentEntry(AgentConfig.from_resource(agent), backend=None)  # type: ignore[arg-type]

    async def scenario() -> tuple[int, int]:
        port = await start_phone_port(Gateway({entry.config.key: entry}), config)
        peer = TwilioPeer(f"http://127.0.0.1:{port.port}", PUBLIC_URL, AUTH_TOKEN)
        try:
            signed, _ = await peer.webhook(AGENT, "CA1")
            unsigned, _ = await peer.webhook(AGENT, "CA1", signature="bm9wZQ==")
            return signed, unsigned
        finally:
            await peer.aclose()
            await port.stop()

    assert asyncio.run(scenario()) == (200, 403)
