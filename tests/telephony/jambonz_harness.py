"""A jambonz transport on loopback with a gateway that records what it is given (unit tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from typing import Any, cast

import pytest
from aiohttp import web

from switchboard_api.channels import JambonzChannel
from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_gateway.events import (
    CallEndedEvent,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
)
from switchboard_gateway.gateway import Admission, OverloadedError
from switchboard_gateway.transports.jambonz import app_socket
from switchboard_gateway.transports.jambonz.app_socket import JambonzApp
from switchboard_gateway.transports.jambonz.line import LineRegistry
from switchboard_gateway.transports.jambonz.listen_socket import ListenSocket
from tests.telephony.jambonz_peer import JambonzPeer

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


async def serve(gateway: FakeGateway) -> tuple[web.AppRunner, str]:
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


def run_against(test: Callable[[str], Coroutine[Any, Any, None]], gateway: FakeGateway) -> None:
    async def main() -> None:
        runner, url = await serve(gateway)
        try:
            await asyncio.wait_for(test(url), 20)
        finally:
            await runner.cleanup()

    asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


async def then_a_good_call(url: str, gateway: FakeGateway) -> None:
    """The process still serves: a well-behaved call afterwards goes through."""
    before = len(gateway.starts)
    async with JambonzPeer(url, AGENT, (USER, PASSWORD)) as peer:
        verbs = await peer.start()
        await peer.run_listen(verbs[1])
        await peer.hang_up()
    assert len(gateway.starts) == before + 1


def set_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The application's basic-auth credential, as the operator would project it."""
    monkeypatch.setenv(secret_env_name(REF), f"{USER}:{PASSWORD}")
