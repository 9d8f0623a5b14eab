"""A jambonz call through the sockets: the ack, audio both ways, DTMF, commands."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from switchboard_api.gateway import GatewayConfig
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallerAudio,
    CallerDtmf,
    CallerHangup,
    ClearEvent,
    EndReason,
    TransferEvent,
)
from switchboard_gateway.transports.jambonz import app_socket
from switchboard_gateway.transports.jambonz.routes import jambonz_routes
from tests.telephony.jambonz_harness import (
    AGENT,
    PASSWORD,
    USER,
    Deliver,
    FakeGateway,
    run_against,
    set_secret,
    until,
)
from tests.telephony.jambonz_peer import JambonzPeer

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    set_secret(monkeypatch)


def test_a_call_gets_answer_and_listen_streams_both_ways_and_ends_with_the_caller() -> None:
    async def script(gateway: FakeGateway, deliver: Deliver) -> None:
        await deliver(AgentAudioEvent(1, 1, b"\x01\x02" * 160))
        await until(lambda: any(isinstance(e, CallerDtmf) for e in gateway.received))
        await deliver(ClearEvent(1, 1))

    gateway = FakeGateway(script)

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            assert [v["verb"] for v in verbs] == ["answer", "listen"]
            assert verbs[1]["url"].startswith(url.replace("http", "ws") + "/v1/jambonz/_listen/")
            await peer.run_listen(verbs[1])
            await peer.stream(b"\x10\x00" * 480, realtime=False)
            await until(lambda: len(peer.heard.audio) == 320)
            await peer.dtmf("7")
            await until(lambda: bool(peer.heard.kills))
            await peer.hang_up()
            await until(lambda: gateway.ended is not None)

    run_against(call, gateway)
    start = gateway.starts[0]
    assert start.telephony is not None
    assert start.telephony.provider == "jambonz"
    assert start.telephony.from_number == "+15083084809"
    assert start.telephony.to_number == "+15083728299"
    assert start.input_format.sample_rate == 8000
    assert start.reports_playback is False
    assert gateway.channel == "jambonz"
    audio = b"".join(e.data for e in gateway.received if isinstance(e, CallerAudio))
    assert audio == b"\x10\x00" * 480
    assert CallerDtmf("7") in gateway.received
    assert gateway.received[-1] == CallerHangup("jambonz call:status completed")


def test_a_transfer_redirects_to_a_dial_and_a_transferred_end_sends_no_hangup() -> None:
    async def script(gateway: FakeGateway, deliver: Deliver) -> None:
        await deliver(TransferEvent("+15550001111", "caller asked"))
        await deliver(CallEndedEvent(EndReason.TRANSFERRED))

    gateway = FakeGateway(script)

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            await peer.run_listen(verbs[1])
            command = await peer.wait_command()
            assert command == {
                "type": "command",
                "command": "redirect",
                "queueCommand": False,
                "data": [{"verb": "dial", "target": [{"type": "phone", "number": "+15550001111"}]}],
            }
            await asyncio.sleep(0.2)
            assert len(peer.commands) == 1  # the transferred call is not hung up
            assert not peer.app_closed.is_set()  # and its socket stays open for jambonz
            await peer.hang_up()

    run_against(call, gateway)


def test_an_agent_end_hangs_up_through_a_redirect_command() -> None:
    async def script(gateway: FakeGateway, deliver: Deliver) -> None:
        await deliver(CallEndedEvent(EndReason.AGENT_ENDED))

    gateway = FakeGateway(script)

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            await peer.run_listen(verbs[1])
            command = await peer.wait_command()
            assert command["command"] == "redirect"
            assert command["data"] == [{"verb": "hangup"}]
            await peer.hang_up()

    run_against(call, gateway)


def test_verb_hooks_are_acknowledged_during_the_call() -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            await peer.run_listen(verbs[1])
            assert peer.app is not None
            await peer.app.send_str(
                json.dumps({"type": "verb:hook", "msgid": "h1", "hook": "x", "data": {}})
            )
            await until(lambda: {"type": "ack", "msgid": "h1"} in peer.acks)
            await peer.hang_up()

    run_against(call, gateway)
    assert isinstance(gateway.ended, CallEndedEvent)
    assert gateway.ended.reason is EndReason.CALLER_HANGUP


def test_overload_declines_the_call_with_a_503() -> None:
    gateway = FakeGateway(overloaded=True)

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            assert verbs == [{"verb": "sip:decline", "status": 503, "reason": "Overloaded"}]

    run_against(call, gateway)


def test_a_refused_admission_declines_the_call() -> None:
    gateway = FakeGateway(refusal=CallEndedEvent(EndReason.TENANT_SUSPENDED, "suspended"))

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            assert verbs[0]["verb"] == "sip:decline"

    run_against(call, gateway)


def _gateway_config(jambonz: dict[str, Any], public_url: str | None = None) -> GatewayConfig:
    agent = VoiceAgent.model_validate(
        {
            "metadata": {"name": "desk", "namespace": "acme"},
            "spec": {"prompt": {"system": "Hi"}, "channels": {"jambonz": jambonz}},
        }
    )
    telephony = {"public_url": public_url} if public_url else {}
    return GatewayConfig.model_validate(
        {"model_plane_url": "http://127.0.0.1:9", "agents": [agent], "telephony": telephony}
    )


def test_routes_exist_only_for_agents_with_jambonz_on() -> None:
    on = _gateway_config({"enabled": True, "basicAuthSecretRef": {"name": "j", "key": "k"}})
    paths = {route.path for route in jambonz_routes(FakeGateway(), on)}
    assert paths == {"/v1/jambonz/_listen/{token}", "/v1/jambonz/{namespace}/{name}"}
    assert jambonz_routes(FakeGateway(), _gateway_config({"enabled": False})) == []


def test_the_listen_url_uses_the_public_url_when_there_is_one() -> None:
    request = make_mocked_request("GET", "/v1/jambonz/acme/desk", headers={"Host": "10.0.0.5:8090"})
    assert (
        app_socket.listen_url(request, "tok", None) == "ws://10.0.0.5:8090/v1/jambonz/_listen/tok"
    )
    public = app_socket.listen_url(request, "tok", "https://voice.example.com/")
    assert public == "wss://voice.example.com/v1/jambonz/_listen/tok"
    proxied = make_mocked_request(
        "GET", "/", headers={"Host": "abc.tunnel.example", "X-Forwarded-Proto": "https"}
    )
    tunnelled = app_socket.listen_url(proxied, "tok", None)
    assert tunnelled == "wss://abc.tunnel.example/v1/jambonz/_listen/tok"


def test_a_call_jambonz_ended_gets_no_hangup_back() -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            await peer.run_listen(verbs[1])
            await peer.call_status("completed")  # the caller hung up; the socket stays open
            await until(lambda: gateway.ended is not None)
            await asyncio.sleep(0.2)
            assert peer.commands == []

    run_against(call, gateway)
    assert gateway.received[-1] == CallerHangup("jambonz call:status completed")


def test_a_transfer_to_a_sip_uri_dials_it_and_a_bad_target_hangs_up_instead() -> None:
    targets = iter(["sip:desk@pbx.example.com", "not a number"])

    async def script(gateway: FakeGateway, deliver: Deliver) -> None:
        await deliver(TransferEvent(next(targets), "handoff"))

    async def call(url: str) -> None:
        for expected in (
            [{"verb": "dial", "target": [{"type": "sip", "sipUri": "sip:desk@pbx.example.com"}]}],
            [{"verb": "hangup"}],
        ):
            async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
                verbs = await peer.start()
                await peer.run_listen(verbs[1])
                command = await peer.wait_command()
                assert command["data"] == expected
                await peer.hang_up()

    run_against(call, FakeGateway(script))
