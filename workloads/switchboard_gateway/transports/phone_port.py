"""The phone port: Twilio's and jambonz's HTTP and WebSocket traffic, on its own port.

Twilio's voice webhook is a form-encoded POST, which the WebSocket library behind the HTTP port
cannot read (it refuses request bodies), so phone traffic has a port of its own, served by
aiohttp (which the `twilio` package's async client uses too). Each provider contributes its
routes; nothing else is served here but `/healthz`.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from aiohttp import web

from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.transports.jambonz.routes import jambonz_routes
from switchboard_gateway.transports.twilio.routes import twilio_routes

log = logging.getLogger(__name__)

#: Largest request body the port reads (Twilio's webhook forms are a few kilobytes).
MAX_BODY_BYTES = 64 * 1024


def phone_channels_enabled(config: GatewayConfig) -> bool:
    """Whether any agent of this gateway takes phone calls (else the port is not opened)."""
    return any(agent.spec.channels.telephony for agent in config.agents)


@dataclass
class PhonePort:
    """The running phone port; `port` is the bound one."""

    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        """Close the port; calls on it are cut."""
        await self.runner.cleanup()


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def start_phone_port(
    gateway: Gateway, config: GatewayConfig, tls: ssl.SSLContext | None = None
) -> PhonePort:
    """Serve the phone routes of every enabled provider on `config.telephony.port`."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/healthz", _healthz)
    app.add_routes(twilio_routes(gateway, config))
    app.add_routes(jambonz_routes(gateway, config))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.telephony.port, ssl_context=tls)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else config.telephony.port
    log.info("phone port serving on %d", port)
    return PhonePort(runner, port)
