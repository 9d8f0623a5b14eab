"""The jambonz sockets against a jambonz stand-in and a gateway that records what it is given."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from switchboard_api.channels import JambonzChannel
from switchboard_api.common import SecretKeyRef, secret_env_name
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
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
    TransferEvent,
)
from switchboard_gateway.gateway import Admission, OverloadedError
from switchboard_gateway.transports.jambonz import app_socket
from switchboard_gateway.transports.jambonz.app_socket import JambonzApp
from switchboard_gateway.transports.jambonz.line import LineRegistry
from switchboard_gateway.transports.jambonz.listen_socket import ListenSocket
from switchboard_gateway.transports.jambonz.routes import jambonz_routes
from tests.telephony.jambonz_peer import JambonzPeer

pytestmark = pytest.mark.unit

AGENT = "test/tester"
REF = SecretKeyRef(name="jambonz-auth", key="basic")
USER, PASSWORD = "jambonz", "s3cret-pass"
Deliver = Callable[[OutboundEvent], Awaitable[None]]
Script = Callable[["FakeGateway", Deliver], Coroutine[Any, Any, None]]


class FakeGateway:
    """Admits every call (unless told not to) and runs `script` while recording caller events."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        overloaded: bool = False,
        refusal: CallEndedEvent | None = None,
    ) -> None:
        self.script, self.overloaded, self.refusal = script, overloaded, refusal
        self.starts: list[StartCall] = []
        self.refused: list[CallEndedEvent] = []
        self.received: list[InboundEvent] = []
        self.ended: CallEndedEvent | None = None
        self.endings: list[CallEndedEvent] = []
        self.channel = ""

    def admit(
        self, start: StartCall, channel: str, *, provider_verified: bool = False
    ) -> Admission | CallEndedEvent:
        assert provider_verified
        assert channel == "jambonz"
        if self.overloaded:
            raise OverloadedError("full")
        if self.refusal is not None:
            return self.refusal
        self.starts.append(start)
        return cast(Admission, object())

    def refuse(self, reason: EndReason, detail: str) -> CallEndedEvent:
        event = CallEndedEvent(reason, detail)
        self.refused.append(event)
        return event

    async def run_call(
        self,
        admission: Admission,
        start: StartCall,
        deliver: Deliver,
        inbound: AsyncIterable[InboundEvent],
        channel: str = "grpc",
    ) -> CallEndedEvent:
        self.channel = channel
        script: asyncio.Task[None] | None = None
        if self.script is not None:
            script = asyncio.create_task(self.script(self, deliver))
        ended = CallEndedEvent(EndReason.CALLER_HANGUP)
        try:
            async for event in inbound:
                self.received.append(event)
        except ProtocolError as error:
            ended = CallEndedEvent(EndReason.PROTOCOL_ERROR, str(error))
        if script is not None and not script.done():
            script.cancel()
        self.ended = ended
        self.endings.append(ended)
        await deliver(ended)
        return ended


async def _serve(gateway: FakeGateway) -> tuple[web.AppRunner, str]:
    lines = LineRegistry()
    jambonz = JambonzApp(
        gateway, {AGENT: JambonzChannel(enabled=True, basic_auth_secret_ref=REF)}, lines
    )
    app = web.Application()
    app.add_routes(
        [
            web.get(app_socket.LISTEN_PATH + "{token}", ListenSocket(lines).handle),
            web.get("/v1/jambonz/{namespace}/{name}", jambonz.handle),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _run(test: Callable[[str], Coroutine[Any, Any, None]], gateway: FakeGateway) -> None:
    async def main() -> None:
        runner, url = await _serve(gateway)
        try:
            await asyncio.wait_for(test(url), 20)
        finally:
            await runner.cleanup()

    asyncio.run(main())


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secret_env_name(REF), f"{USER}:{PASSWORD}")


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


def test_a_call_gets_answer_and_listen_streams_both_ways_and_ends_with_the_caller() -> None:
    async def script(gateway: FakeGateway, deliver: Deliver) -> None:
        await deliver(AgentAudioEvent(1, 1, b"\x01\x02" * 160))
        await _until(lambda: any(isinstance(e, CallerDtmf) for e in gateway.received))
        await deliver(ClearEvent(1, 1))

    gateway = FakeGateway(script)

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            assert [v["verb"] for v in verbs] == ["answer", "listen"]
            assert verbs[1]["url"].startswith(url.replace("http", "ws") + "/v1/jambonz/_listen/")
            await peer.run_listen(verbs[1])
            await peer.stream(b"\x10\x00" * 480, realtime=False)
            await _until(lambda: len(peer.heard.audio) == 320)
            await peer.dtmf("7")
            await _until(lambda: bool(peer.heard.kills))
            await peer.hang_up()
            await _until(lambda: gateway.ended is not None)

    _run(call, gateway)
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


@pytest.mark.parametrize(
    "auth", [None, (USER, "wrong"), ("other", PASSWORD)], ids=["none", "password", "user"]
)
def test_missing_or_wrong_basic_auth_is_401_before_the_upgrade_and_no_call(
    auth: tuple[str, str] | None,
) -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, auth) as peer:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await peer.open_app()
            assert refused.value.status == 401

    _run(call, gateway)
    assert gateway.starts == []


def test_an_unset_credential_refuses_every_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secret_env_name(REF))
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await peer.open_app()
            assert refused.value.status == 401

    _run(call, gateway)
    assert gateway.starts == []


def test_a_forged_listen_socket_gets_no_call() -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(
                    url + app_socket.LISTEN_PATH + "guessed-token", protocols=("audio.jambonz.org",)
                )
            assert refused.value.status == 403

    _run(call, gateway)
    assert gateway.starts == []
    assert gateway.received == []


def test_a_listen_token_opens_one_socket_only() -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            await peer.run_listen(verbs[1])
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(verbs[1]["url"], protocols=("audio.jambonz.org",))
                assert refused.value.status == 403
            await peer.hang_up()
            await _until(lambda: gateway.ended is not None)

    _run(call, gateway)


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

    _run(call, gateway)


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

    _run(call, gateway)


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
            await _until(lambda: {"type": "ack", "msgid": "h1"} in peer.acks)
            await peer.hang_up()

    _run(call, gateway)
    assert isinstance(gateway.ended, CallEndedEvent)
    assert gateway.ended.reason is EndReason.CALLER_HANGUP


def test_overload_declines_the_call_with_a_503() -> None:
    gateway = FakeGateway(overloaded=True)

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            assert verbs == [{"verb": "sip:decline", "status": 503, "reason": "Overloaded"}]

    _run(call, gateway)


def test_a_refused_admission_declines_the_call() -> None:
    gateway = FakeGateway(refusal=CallEndedEvent(EndReason.TENANT_SUSPENDED, "suspended"))

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            assert verbs[0]["verb"] == "sip:decline"

    _run(call, gateway)


async def _then_a_good_call(url: str, gateway: FakeGateway) -> None:
    """The process still serves: a well-behaved call afterwards goes through."""
    before = len(gateway.starts)
    async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
        verbs = await peer.start()
        await peer.run_listen(verbs[1])
        await peer.hang_up()
    assert len(gateway.starts) == before + 1


@pytest.mark.parametrize(
    ("first", "detail"),
    [
        ("{nope", "malformed JSON"),
        (b"\x00\x01", "audio before session:new"),
        ('{"type": "call:status", "msgid": "m", "data": {}}', "expected session:new"),
        ('{"msgid": "m"}', "without a type"),
        ('{"type": "session:new", "msgid": "m", "data": {}}', "call_sid"),
    ],
    ids=["malformed", "audio", "wrong-type", "no-type", "no-call-sid"],
)
def test_a_bad_first_message_refuses_the_socket_with_a_clear_reason(
    first: str | bytes, detail: str
) -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            app = await peer.open_app()
            await (app.send_bytes(first) if isinstance(first, bytes) else app.send_str(first))
            closed = await asyncio.wait_for(app.receive(), 5)
            assert closed.type is aiohttp.WSMsgType.CLOSE
            assert closed.data == 1008
        assert gateway.starts == []
        await _then_a_good_call(url, gateway)

    _run(call, gateway)
    assert detail in gateway.refused[0].detail
    assert gateway.refused[0].reason is EndReason.PROTOCOL_ERROR


@pytest.mark.parametrize(
    ("send", "detail"),
    [
        (b"\x00" * 321, "not whole L16 samples"),
        (b"\x00" * 70_000, "over"),
        (b"\x00" * 300_000, "listen socket error"),
        ('{"event": "dtmf", "dtmf": "not digits"}', "valid digits"),
        ('{"type": "mystery"}', "unexpected listen message"),
        ("{nope", "malformed JSON"),
    ],
    ids=["odd-bytes", "oversized", "over-socket-limit", "bad-dtmf", "unknown-text", "malformed"],
)
def test_bad_listen_frames_end_the_call_with_a_protocol_error(
    send: str | bytes, detail: str
) -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            await peer.run_listen(verbs[1])
            assert peer.listen is not None
            await peer.stream(b"\x00\x00" * 160, realtime=False)
            if isinstance(send, bytes):
                await peer.listen.send_bytes(send)
            else:
                await peer.listen.send_str(send)
            command = await peer.wait_command()
            assert command["data"] == [{"verb": "hangup"}]  # the call is hung up through jambonz
            await peer.hang_up()
        await _then_a_good_call(url, gateway)

    _run(call, gateway)
    assert gateway.endings[0].reason is EndReason.PROTOCOL_ERROR
    assert detail in gateway.endings[0].detail
    assert gateway.endings[1].reason is EndReason.CALLER_HANGUP


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ('{"type": "mystery:event", "msgid": "m"}', "unknown jambonz message type"),
        ("{nope", "malformed JSON"),
        ('{"type": "session:new", "msgid": "m", "call_sid": "c", "data": {}}', "already carries"),
    ],
    ids=["unknown-type", "malformed", "second-session"],
)
def test_bad_application_messages_mid_call_end_the_call(message: str, detail: str) -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            await peer.run_listen(verbs[1])
            await peer.stream(b"\x00\x00" * 160, realtime=False)
            await _until(lambda: bool(gateway.received))  # the call is running
            assert peer.app is not None
            await peer.app.send_str(message)
            await _until(lambda: gateway.ended is not None)
            await peer.hang_up()

    _run(call, gateway)
    assert gateway.ended is not None
    assert gateway.ended.reason is EndReason.PROTOCOL_ERROR
    assert detail in gateway.ended.detail


@pytest.mark.parametrize(
    ("metadata", "detail"),
    [
        (b"\x00\x00", "audio before the listen metadata"),
        ('{"sampleRate": 16000, "mixType": "mono"}', "sampleRate 16000"),
        ('{"sampleRate": 8000, "mixType": "stereo"}', "mixType"),
        ('{"sampleRate": 8000, "mixType": "mono", "call_sid": "other"}', "another call"),
        ("{nope", "malformed JSON"),
    ],
    ids=["audio-first", "rate", "stereo", "other-call", "malformed"],
)
def test_a_listen_socket_with_bad_metadata_gets_no_call(metadata: str | bytes, detail: str) -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            assert peer._session is not None
            listen = await peer._session.ws_connect(
                verbs[1]["url"], protocols=("audio.jambonz.org",)
            )
            if isinstance(metadata, bytes):
                await listen.send_bytes(metadata)
            else:
                await listen.send_str(metadata)
            command = await peer.wait_command()
            assert command["data"] == [{"verb": "hangup"}]
            await listen.close()
            await peer.hang_up()

    _run(call, gateway)
    assert gateway.ended is None  # the call never ran
    assert gateway.refused
    assert detail in gateway.refused[-1].detail


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
