"""`POST /v1/twilio/{ns}/{name}/calls`: an outbound call placed through Twilio's REST API.

The route runs on a real aiohttp server and the official client talks to a local stand-in for
Twilio that records the request, so the TwiML the callee's stream starts with is checked as
Twilio would receive it.
"""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_api.gateway import GatewayConfig, TelephonyConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.api_keys import KeyRing
from switchboard_gateway.call_tokens import mint
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.transports.twilio import twiml
from switchboard_gateway.transports.twilio.outbound import (
    OutboundLimiter,
    Refusal,
    TwilioCredentials,
    twilio_credentials,
)
from tests.fake_twilio import CALL_SID, FakeTwilio, fake_twilio

pytestmark = pytest.mark.unit

KEY = "sk-" + "k" * 40
ACCOUNT = "AC" + "b2" * 16
AUTH_TOKEN = "twilio-auth-" + "t" * 20
REF = SecretKeyRef(name="twilio", key="authToken")
PUBLIC = "https://tunnel.example.com"
AGENT = "acme/caller"
PATH = "/v1/twilio/acme/caller/calls"
T = TypeVar("T")


def xml(text: str) -> ET.Element:
    """TwiML the route sent (trusted: the test's own server recorded it)."""
    return ET.fromstring(text)  # noqa: S314


def voice_agent(**twilio: object) -> VoiceAgent:
    channel = {
        "enabled": True,
        "authTokenSecretRef": {"name": REF.name, "key": REF.key},
        "accountSid": ACCOUNT,
        "phoneNumber": "+15550001111",
        **twilio,
    }
    manifest = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "caller", "namespace": "acme"},
        "spec": {
            "prompt": {"system": "You call people.", "greeting": "Hello!"},
            "channels": {"twilio": {k: v for k, v in channel.items() if v is not None}},
        },
    }
    agent = parse_manifest(manifest, "test")
    assert isinstance(agent, VoiceAgent)
    return agent


@dataclass
class Setup:
    http: TestClient[web.Request, web.Application]
    twilio: FakeTwilio
    gateway: Gateway

    async def post(
        self, body: object, credential: str | None = KEY
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await self.http.post(PATH, data=data, headers=headers)
        return response.status, await response.json(), dict(response.headers)


def run(
    work: Callable[[Setup], Awaitable[T]],
    tmp_path: Path,
    *,
    agent: VoiceAgent | None = None,
    public_url: str | None = PUBLIC,
    ring: KeyRing | None = None,
    limiter: OutboundLimiter | None = None,
) -> T:
    agent = agent or voice_agent()
    if ring is None:
        (tmp_path / "keys").write_text(KEY)
        ring = KeyRing(files=(tmp_path / "keys",), required=True)
    from switchboard_gateway.transports.twilio.rest_routes import twilio_rest_routes

    async def go() -> T:
        async with fake_twilio() as twilio:
            config = GatewayConfig(
                model_plane_url="http://127.0.0.1:1",
                agents=[agent],
                telephony=TelephonyConfig(public_url=public_url, twilio_api_url=twilio.url),
            )
            entry = AgentEntry(AgentConfig.from_resource(agent), backend=None, keys=ring)  # type: ignore[arg-type]
            gateway = Gateway({AGENT: entry})
            app = web.Application()
            app.add_routes(twilio_rest_routes(gateway, config, limiter=limiter))
            async with TestClient(TestServer(app, host="127.0.0.1")) as http:
                return await work(Setup(http, twilio, gateway))

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def auth_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secret_env_name(REF), AUTH_TOKEN)


def test_a_call_is_placed_with_a_stream_to_the_media_socket_and_its_sid_is_answered(
    tmp_path: Path,
) -> None:
    async def work(setup: Setup) -> tuple[int, dict[str, Any], FakeTwilio]:
        status, body, _ = await setup.post({"to": "+15551234567", "from": "+15557654321"})
        return status, body, setup.twilio

    status, body, twilio = run(work, tmp_path)
    assert (status, body) == (201, {"callSid": CALL_SID, "agent": AGENT})
    [request] = twilio.requests
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
    assert request.auth == (ACCOUNT, AUTH_TOKEN)
    assert request.form["To"] == ["+15551234567"]
    assert request.form["From"] == ["+15557654321"]
    stream = xml(request.form["Twiml"][0]).find("Connect/Stream")
    assert stream is not None
    assert stream.get("url") == twiml.media_url(PUBLIC)
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
    assert parameters["agent"] == AGENT
    assert parameters["direction"] == "outbound"
    assert parameters["from"] == "+15557654321"
    assert parameters["to"] == "+15551234567"
    assert len(parameters["nonce"]) >= 16
    assert twiml.check_stream_parameters(AUTH_TOKEN, parameters)
    assert not twiml.check_stream_parameters("another-token", parameters)


def test_each_call_gets_a_fresh_nonce(tmp_path: Path) -> None:
    async def work(setup: Setup) -> list[str]:
        for _ in range(2):
            await setup.post({"to": "+15551234567"})
        nonces = []
        for request in setup.twilio.requests:
            stream = xml(request.form["Twiml"][0]).find("Connect/Stream")
            assert stream is not None
            nonces += [
                p.get("value") or "" for p in stream.iter("Parameter") if p.get("name") == "nonce"
            ]
        return nonces

    first, second = run(work, tmp_path)
    assert first != second


def test_the_agents_phone_number_is_the_caller_id_when_none_is_given(tmp_path: Path) -> None:
    async def work(setup: Setup) -> list[str]:
        status, _, _ = await setup.post({"to": "+15551234567"})
        assert status == 201
        return setup.twilio.requests[0].form["From"]

    assert run(work, tmp_path) == ["+15550001111"]


def test_without_a_caller_id_anywhere_the_request_names_phone_number(tmp_path: Path) -> None:
    async def work(setup: Setup) -> tuple[int, str, int]:
        status, body, _ = await setup.post({"to": "+15551234567"})
        return status, body["error"], len(setup.twilio.requests)

    status, error, sent = run(work, tmp_path, agent=voice_agent(phoneNumber=None))
    assert (status, sent) == (400, 0)
    assert '"from" field is required' in error
    assert "channels.twilio.phoneNumber" in error


@pytest.mark.parametrize(
    "body",
    [
        {"to": "5551234567"},
        {"to": "+0551234567"},
        {"to": "+1 555 123 4567"},
        {"to": "+1555"},
        {"to": "+1555123456789012"},
        {"to": 15551234567},
        {"to": "+15551234567", "from": "alice"},
    ],
)
def test_numbers_that_are_not_e164_are_refused_with_a_400(
    tmp_path: Path, body: dict[str, object]
) -> None:
    async def work(setup: Setup) -> tuple[int, str, int]:
        status, answer, _ = await setup.post(body)
        return status, answer["error"], len(setup.twilio.requests)

    status, error, sent = run(work, tmp_path)
    assert (status, sent) == (400, 0)
    assert "must be a phone number in E.164" in error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", "the body must be a JSON object"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b"[" * 20_000 + b"]" * 20_000, "the body must be a JSON object"),
        ({}, '"to" field is required'),
        ({"to": "+15551234567", "greeting": "hi"}, "unknown field 'greeting'"),
    ],
)
def test_malformed_bodies_are_refused_with_a_400_that_says_why(
    tmp_path: Path, body: object, expected: str
) -> None:
    async def work(setup: Setup) -> tuple[int, str]:
        status, answer, _ = await setup.post(body)
        return status, answer["error"]

    status, error = run(work, tmp_path)
    assert status == 400
    assert expected in error


def test_an_agent_without_an_account_sid_is_refused_naming_the_field(tmp_path: Path) -> None:
    async def work(setup: Setup) -> tuple[int, str]:
        status, body, _ = await setup.post({"to": "+15551234567"})
        return status, body["error"]

    status, error = run(work, tmp_path, agent=voice_agent(accountSid=None))
    assert status == 409
    assert error.startswith("channels.twilio.accountSid is not set")


def test_a_gateway_without_a_public_url_is_refused_naming_how_to_set_one(tmp_path: Path) -> None:
    async def work(setup: Setup) -> tuple[int, str]:
        status, body, _ = await setup.post({"to": "+15551234567"})
        return status, body["error"]

    status, error = run(work, tmp_path, public_url=None)
    assert status == 409
    assert "channels.twilio.publicUrl" in error
    assert "--public-url" in error


def test_the_agents_own_public_url_wins(tmp_path: Path) -> None:
    own = "https://agent.example.org"

    async def work(setup: Setup) -> str | None:
        await setup.post({"to": "+15551234567"})
        stream = xml(setup.twilio.requests[0].form["Twiml"][0]).find("Connect/Stream")
        assert stream is not None
        return stream.get("url")

    assert run(work, tmp_path, agent=voice_agent(publicUrl=own)) == twiml.media_url(own)


def test_a_missing_auth_token_is_refused_naming_its_variable_never_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(secret_env_name(REF))

    async def work(setup: Setup) -> tuple[int, str]:
        status, body, _ = await setup.post({"to": "+15551234567"})
        return status, body["error"]

    status, error = run(work, tmp_path)
    assert status == 409
    assert secret_env_name(REF) in error


def test_an_agent_with_its_twilio_channel_off_places_no_calls(tmp_path: Path) -> None:
    async def work(setup: Setup) -> tuple[int, str]:
        status, body, _ = await setup.post({"to": "+15551234567"})
        return status, body["error"]

    agent = voice_agent(enabled=False)
    assert run(work, tmp_path, agent=agent) == (
        409,
        "channels.twilio is not enabled for this agent",
    )


@pytest.mark.parametrize("credential", [None, "sk-wrong", "eyJ.forged.token"])
def test_a_missing_or_wrong_credential_gets_401(tmp_path: Path, credential: str | None) -> None:
    async def work(setup: Setup) -> tuple[int, str, int]:
        status, _, headers = await setup.post({"to": "+15551234567"}, credential)
        return status, headers.get("WWW-Authenticate", ""), len(setup.twilio.requests)

    assert run(work, tmp_path) == (401, "Bearer", 0)


def test_an_unknown_agent_answers_like_a_wrong_key(tmp_path: Path) -> None:
    async def work(setup: Setup) -> int:
        headers = {"Authorization": f"Bearer {KEY}"}
        response = await setup.http.post("/v1/twilio/acme/nobody/calls", json={}, headers=headers)
        return response.status

    assert run(work, tmp_path) == 401


def test_a_call_token_minted_with_the_agents_key_places_calls(tmp_path: Path) -> None:
    token = mint(KEY, AGENT, now=int(time.time()), ttl_s=60).token
    other = mint(KEY, "acme/other", now=int(time.time()), ttl_s=60).token

    async def work(setup: Setup) -> tuple[int, int]:
        ok, _, _ = await setup.post({"to": "+15551234567"}, token)
        wrong_agent, _, _ = await setup.post({"to": "+15551234567"}, other)
        return ok, wrong_agent

    assert run(work, tmp_path) == (201, 401)


def test_an_agent_that_takes_any_caller_places_no_calls(tmp_path: Path) -> None:
    async def work(setup: Setup) -> tuple[int, str]:
        status, body, _ = await setup.post({"to": "+15551234567"})
        return status, body["error"]

    status, error = run(work, tmp_path, ring=KeyRing())
    assert status == 403
    assert "give it an API key" in error


def test_calls_beyond_the_agents_rate_are_refused_with_retry_after(tmp_path: Path) -> None:
    async def work(setup: Setup) -> list[tuple[int, str | None]]:
        answers = []
        for _ in range(3):
            status, _, headers = await setup.post({"to": "+15551234567"})
            answers.append((status, headers.get("Retry-After")))
        return answers

    answers = run(work, tmp_path, limiter=OutboundLimiter(limit=2, window_s=60))
    assert answers[:2] == [(201, None), (201, None)]
    assert answers[2][0] == 429
    assert 1 <= int(answers[2][1] or "0") <= 60


def test_a_gateway_at_capacity_places_no_call(tmp_path: Path) -> None:
    async def work(setup: Setup) -> tuple[int, int]:
        setup.gateway.active = setup.gateway.max_calls
        status, _, _ = await setup.post({"to": "+15551234567"})
        return status, len(setup.twilio.requests)

    assert run(work, tmp_path) == (503, 0)


def test_twilios_refusal_is_a_502_with_its_reason_and_no_secret(tmp_path: Path) -> None:
    refusal = {"code": 21215, "message": "Account not authorized to call +1555", "status": 400}

    async def work(setup: Setup) -> tuple[int, str]:
        setup.twilio.failures.append((400, refusal))
        status, body, _ = await setup.post({"to": "+15551234567"})
        return status, body["error"]

    status, error = run(work, tmp_path)
    assert status == 502
    assert error.startswith("Twilio outbound call failed: HTTP 400, Twilio error 21215")
    assert AUTH_TOKEN not in error


def test_the_limiter_forgets_calls_older_than_its_window() -> None:
    limiter = OutboundLimiter(limit=2, window_s=10)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("a", 1.0) is None
    assert limiter.take("a", 5.0) == pytest.approx(5.0)
    assert limiter.take("b", 5.0) is None
    assert limiter.take("a", 10.5) is None
    assert limiter.take("a", 10.6) == pytest.approx(0.4)


def test_credentials_are_read_from_the_environment_at_each_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = voice_agent()
    first = twilio_credentials(agent)
    monkeypatch.setenv(secret_env_name(REF), "rotated-token")
    second = twilio_credentials(agent, "transfers are made")
    assert first == TwilioCredentials(ACCOUNT, AUTH_TOKEN)
    assert second == TwilioCredentials(ACCOUNT, "rotated-token")
    assert "rotated-token" not in repr(second)
    missing_sid = twilio_credentials(voice_agent(accountSid=None), "transfers are made")
    assert isinstance(missing_sid, Refusal)
    assert missing_sid.message.startswith(
        "channels.twilio.accountSid is not set: transfers are made through"
    )
