"""A phone port for the Twilio transport's unit tests: one agent, a fake REST API, the peer."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from switchboard_api.gateway import GatewayConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.events import CallEndedEvent, InboundEvent, OutboundEvent, StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.transports.twilio.media import MediaSocket
from switchboard_gateway.transports.twilio.routes import VOICE_PATH
from switchboard_gateway.transports.twilio.twiml import MEDIA_PATH
from switchboard_gateway.transports.twilio.webhook import VoiceWebhook
from tests.telephony.twilio_peer import TwilioPeer

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105 (a test token)
TOKEN_ENV = "SWITCHBOARD_SECRET_TWILIO_AUTH_TOKEN"  # noqa: S105 (a variable name)
PUBLIC_URL = "https://phone.example.com"
AGENT = "test/tester"
ACCOUNT = "AC" + "1" * 32


def twilio_agent(*, account_sid: str | None = ACCOUNT, **spec: Any) -> VoiceAgent:
    """A test agent with Twilio on (auth token in `TOKEN_ENV`), no greeting unless given."""
    twilio: dict[str, Any] = {
        "enabled": True,
        "authTokenSecretRef": {"name": "twilio", "key": "auth-token"},
    }
    if account_sid:
        twilio["accountSid"] = account_sid
    manifest = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "tester", "namespace": "test"},
        "spec": {"prompt": {"system": "Test."}, "channels": {"twilio": twilio}, **spec},
    }
    agent = parse_manifest(manifest, "test")
    assert isinstance(agent, VoiceAgent)
    return agent


@dataclass
class FakeRest:
    """Twilio's REST API as the transport uses it: what it was asked to do."""

    actions: list[tuple[str, str]] = field(default_factory=list)
    fail: bool = False
    closed: bool = False

    async def transfer(self, call_sid: str, target: str) -> None:
        """Record a transfer."""
        self.actions.append(("transfer", f"{call_sid}->{target}"))
        if self.fail:
            raise ConnectionError("twilio is down")

    async def hang_up(self, call_sid: str) -> None:
        """Record a hang-up."""
        self.actions.append(("hang_up", call_sid))
        if self.fail:
            raise ConnectionError("twilio is down")

    async def aclose(self) -> None:
        """Record the close."""
        self.closed = True


#: A scripted call: gets the start, `deliver` and the caller's events; returns the end.
Script = Callable[
    [StartCall, Callable[[OutboundEvent], Awaitable[None]], AsyncIterable[InboundEvent]],
    Awaitable[CallEndedEvent],
]


class ScriptedGateway(Gateway):
    """The real admission; the call itself is a test's script."""

    script: Script | None = None

    async def run_call(
        self,
        admission: Admission,
        start: StartCall,
        deliver: Callable[[OutboundEvent], Awaitable[None]],
        inbound: AsyncIterable[InboundEvent],
        channel: str = "grpc",
    ) -> CallEndedEvent:
        """Run the script (or the real call when there is none)."""
        assert channel == "twilio"
        if self.script is None:
            return await super().run_call(admission, start, deliver, inbound, channel)
        ended = await self.script(start, deliver, inbound)
        await deliver(ended)
        return ended


@dataclass
class Phone:
    """The running port, its gateway, its fake REST API and a Twilio peer."""

    gateway: ScriptedGateway
    rest: FakeRest
    peer: TwilioPeer
    url: str


@asynccontextmanager
async def phone_port(
    agent: VoiceAgent | None = None, public_url: str | None = PUBLIC_URL
) -> AsyncIterator[Phone]:
    """Serve the Twilio routes on a loopback port with a fake REST API."""
    agent = agent or twilio_agent()
    config = GatewayConfig.model_validate(
        {
            "model_plane_url": "http://127.0.0.1:1",
            "agents": [agent.model_dump(by_alias=True, exclude_none=True)],
            "telephony": {"port": 0, "public_url": public_url},  # None: not configured
            "store": None,
        }
    )
    entry = AgentEntry(AgentConfig.from_resource(agent), backend=None)  # type: ignore[arg-type]
    gateway = ScriptedGateway({entry.config.key: entry})
    rest = FakeRest()
    app = web.Application()
    app.router.add_post(VOICE_PATH, VoiceWebhook(config).handle)
    app.router.add_get(MEDIA_PATH, MediaSocket(gateway, config, lambda *_: rest).handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    peer = TwilioPeer(url, public_url or PUBLIC_URL, AUTH_TOKEN)
    try:
        yield Phone(gateway, rest, peer, url)
    finally:
        await peer.aclose()
        await runner.cleanup()
