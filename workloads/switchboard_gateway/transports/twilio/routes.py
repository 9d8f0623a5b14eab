"""The twilio routes on the phone port."""

from __future__ import annotations

from aiohttp import web

from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.transports.twilio.media import MediaSocket
from switchboard_gateway.transports.twilio.rest_routes import twilio_rest_routes
from switchboard_gateway.transports.twilio.twiml import MEDIA_PATH
from switchboard_gateway.transports.twilio.webhook import VoiceWebhook

#: The voice webhook Twilio calls when an agent's number rings.
VOICE_PATH = "/v1/twilio/{namespace}/{name}/voice"


def twilio_routes(gateway: Gateway, config: GatewayConfig) -> list[web.RouteDef]:
    """The voice webhook, the media socket and outbound calls, when an agent has Twilio."""
    if not any(agent.spec.channels.twilio.enabled for agent in config.agents):
        return []
    return [
        web.post(VOICE_PATH, VoiceWebhook(config).handle),
        web.get(MEDIA_PATH, MediaSocket(gateway, config).handle),
        *twilio_rest_routes(gateway, config),
    ]
