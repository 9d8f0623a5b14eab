"""Bad input to the jambonz sockets ends that call (or refuses the socket), never the process."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from switchboard_api.common import secret_env_name
from switchboard_gateway.events import (
    EndReason,
)
from switchboard_gateway.transports.jambonz import app_socket
from tests.telephony.jambonz_harness import (
    AGENT,
    PASSWORD,
    REF,
    USER,
    FakeGateway,
    run_against,
    set_secret,
    then_a_good_call,
    until,
)
from tests.telephony.jambonz_peer import JambonzPeer

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    set_secret(monkeypatch)


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

    run_against(call, gateway)
    assert gateway.starts == []


def test_an_unset_credential_refuses_every_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secret_env_name(REF))
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await peer.open_app()
            assert refused.value.status == 401

    run_against(call, gateway)
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

    run_against(call, gateway)
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
            await until(lambda: gateway.ended is not None)

    run_against(call, gateway)


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
        await then_a_good_call(url, gateway)

    run_against(call, gateway)
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
        await then_a_good_call(url, gateway)

    run_against(call, gateway)
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
            await until(lambda: bool(gateway.received))  # the call is running
            assert peer.app is not None
            await peer.app.send_str(message)
            await until(lambda: gateway.ended is not None)
            await peer.hang_up()

    run_against(call, gateway)
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

    run_against(call, gateway)
    assert gateway.ended is None  # the call never ran
    assert gateway.refused
    assert detail in gateway.refused[-1].detail


def test_a_reconnect_for_an_unknown_call_is_hung_up() -> None:
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            app = await peer.open_app()
            reconnect = {**peer.session_new(), "type": "session:reconnect"}
            await app.send_str(json.dumps(reconnect))
            reply = json.loads((await asyncio.wait_for(app.receive(), 5)).data)
            assert reply == {
                "type": "command",
                "command": "redirect",
                "queueCommand": False,
                "data": [{"verb": "hangup"}],
            }

    run_against(call, gateway)
    assert gateway.starts == []


def test_a_call_whose_listen_socket_never_opens_is_hung_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_socket, "LISTEN_TIMEOUT_S", 0.3)
    gateway = FakeGateway()

    async def call(url: str) -> None:
        async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
            verbs = await peer.start()
            command = await peer.wait_command()
            assert command["data"] == [{"verb": "hangup"}]
            async with aiohttp.ClientSession() as session:  # its token died with the call
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await session.ws_connect(verbs[1]["url"], protocols=("audio.jambonz.org",))

    run_against(call, gateway)
    assert gateway.ended is None
    assert "no listen socket" in gateway.refused[-1].detail
