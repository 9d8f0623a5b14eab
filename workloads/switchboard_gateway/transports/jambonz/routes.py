"""The jambonz routes on the phone port."""

from __future__ import annotations

from aiohttp import web

from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.transports.jambonz.app_socket import LISTEN_PATH, JambonzApp
from switchboard_gateway.transports.jambonz.line import CallGateway, LineRegistry
from switchboard_gateway.transports.jambonz.listen_socket import ListenSocket


def jambonz_routes(gateway: CallGateway, config: GatewayConfig) -> list[web.RouteDef]:
    """The application socket per agent with jambonz on, and the per-call listen sockets.

    `_listen` cannot be a namespace (Kubernetes names have no underscore), so the two paths
    never meet.
    """
    agents = {
        f"{a.metadata.namespace or 'default'}/{a.metadata.name}": a.spec.channels.jambonz
        for a in config.agents
        if a.spec.channels.jambonz.enabled
    }
    if not agents:
        return []
    lines = LineRegistry()
    app = JambonzApp(gateway, agents, lines, config.telephony.public_url)
    return [
        web.get(LISTEN_PATH + "{token}", ListenSocket(lines).handle),
        web.get("/v1/jambonz/{namespace}/{name}", app.handle),
    ]
